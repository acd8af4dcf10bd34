/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host's kzones.conf: which accelerator runs the zones. No file or no setting
 * is kvm; [Host]'s Accelerator= wins, the last one if it is set twice; another
 * section's is not ours; a value that is neither kvm nor tcg is one error naming
 * the file and the value, and nothing is guessed. */
#include <criterion/criterion.h>

#include "host-config.h"
#include "mkdir.h"
#include "test-root.h"

TestSuite(host_config, .init = make_root, .fini = remove_root);

static void write_conf(const char *text)
{
        _cleanup_free_ char *dir = path_join(root, "/etc/kzones"), *path = path_join(root, HOST_CONFIG_FILE);

        cr_assert_eq(mkdir_p(dir, 0755), 0);
        cr_assert_eq(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static ZoneAccel accel_of(const char *text)
{
        ZoneAccel a = _ZONE_ACCEL_INVALID;
        KzError e = {};

        if (text)
                write_conf(text);
        cr_assert_eq(host_config_accel(root, &a, &e), 0, "%s", e.message);
        return a;
}

Test(host_config, kvm_unless_the_file_says_tcg)
{
        cr_assert_eq(accel_of(NULL), ZONE_ACCEL_KVM, "no file: kvm");
        cr_assert_eq(accel_of("# nothing set\n[Host]\n"), ZONE_ACCEL_KVM);
        cr_assert_eq(accel_of("[Host]\nAccelerator=tcg\n"), ZONE_ACCEL_TCG);
        cr_assert_eq(accel_of("[Host]\n  Accelerator = tcg  \r\n"), ZONE_ACCEL_TCG, "blanks around key and value");
        cr_assert_eq(accel_of("Accelerator=tcg\n"), ZONE_ACCEL_TCG, "before any section is [Host]");
        cr_assert_eq(accel_of("[Host]\nAccelerator=tcg\nAccelerator=kvm\n"), ZONE_ACCEL_KVM, "the last one wins");
        cr_assert_eq(accel_of("[Host]\n#Accelerator=tcg\n;Accelerator=tcg\n"), ZONE_ACCEL_KVM, "comments");
        cr_assert_eq(accel_of("[Other]\nAccelerator=tcg\n"), ZONE_ACCEL_KVM, "another section's is not ours");
        cr_assert_eq(accel_of("[Host]\nAcceleratorX=tcg\n"), ZONE_ACCEL_KVM, "a longer key is another key");
        cr_assert_eq(accel_of("[Host]\nAccelerator=\n"), ZONE_ACCEL_KVM, "empty is the default");
}

Test(host_config, a_bad_value_is_one_error_naming_file_and_value)
{
        ZoneAccel a = ZONE_ACCEL_KVM;
        KzError e = {};

        write_conf("[Host]\nAccelerator=hvf\n");
        cr_assert_eq(host_config_accel(root, &a, &e), -EINVAL);
        cr_assert(strstr(e.message, "/etc/kzones/kzones.conf: Accelerator=hvf is neither kvm nor tcg."), "%s",
                e.message);
        cr_assert(strstr(e.message, root), "the file's whole path: %s", e.message);
}

Test(host_config, names_both_ways_and_qemu_options)
{
        for (ZoneAccel a = 0; a < _ZONE_ACCEL_MAX; a++)
                cr_assert_eq(zone_accel_from_string(zone_accel_to_string(a)), a);
        cr_assert_eq(zone_accel_from_string("KVM"), _ZONE_ACCEL_INVALID);
        cr_assert_eq(zone_accel_from_string(NULL), _ZONE_ACCEL_INVALID);
        cr_assert_str_eq(zone_accel_qemu_option(ZONE_ACCEL_KVM), "kvm");
        /* never a mapping both writable and executable: zone@.service denies it */
        cr_assert_str_eq(zone_accel_qemu_option(ZONE_ACCEL_TCG), "tcg,split-wx=on");
}

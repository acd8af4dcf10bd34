/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sealed stream (a suspended zone's memory) read back from storage another host
 * could have written: every hostile change is refused, and a stream cut short is
 * told apart from one that was changed. Written against the public API of
 * sealed-stream.h only; the layout is found from the file, not assumed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "sealed-stream.h"

#define CHUNK_HEAD 5u
#define CHUNK_TAG 16u
#define TAIL 1000u
#define DATA_SIZE (2u * SEALED_CHUNK + TAIL)

static const uint8_t key[16] = "0123456789abcdef";
static uint8_t *stream;
static size_t stream_size, header_size;

static uint8_t pattern(size_t i)
{
        return (uint8_t) (i * 7 + (i >> 20));
}

static int memfd_with(const uint8_t *data, size_t n)
{
        int fd = memfd_create("sealed", MFD_CLOEXEC);

        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, data, n), (ssize_t) n);
        cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* Seals DATA_SIZE bytes of a known pattern: two full chunks and a short last one. */
static void seal_sample(void)
{
        _cleanup_free_ uint8_t *data = malloc(DATA_SIZE);
        SealWriter *w = NULL;
        int fd = memfd_create("sealed", MFD_CLOEXEC);

        cr_assert_not_null(data);
        for (size_t i = 0; i < DATA_SIZE; i++)
                data[i] = pattern(i);
        cr_assert_eq(seal_writer_new(fd, key, "zone-uuid", 1, &w), 0);
        cr_assert_eq(seal_writer_write(w, data, DATA_SIZE), 0);
        cr_assert_eq(seal_writer_finish(w), 0);
        stream_size = (size_t) lseek(fd, 0, SEEK_END);
        header_size = stream_size - 2 * (CHUNK_HEAD + SEALED_CHUNK + CHUNK_TAG) - (CHUNK_HEAD + TAIL + CHUNK_TAG);
        cr_assert_lt(header_size, 256u, "unexpected layout: %zu bytes", stream_size);
        stream = malloc(stream_size);
        cr_assert_not_null(stream);
        cr_assert_eq(pread(fd, stream, stream_size, 0), (ssize_t) stream_size);
        (void) close(fd);
}

static void drop_sample(void)
{
        free(stream);
        stream = NULL;
}

TestSuite(sealed_stream, .init = seal_sample, .fini = drop_sample);

/* Where chunk i starts. */
static size_t chunk_at(unsigned i)
{
        return header_size + i * (CHUNK_HEAD + SEALED_CHUNK + CHUNK_TAG);
}

/* Reads the whole stream with key k: 0 when it verifies to the end with every
 * byte as written, else the first error. */
static int read_back_with(const uint8_t *data, size_t n, const uint8_t k[16])
{
        _cleanup_(seal_reader_freep) SealReader *r = NULL;
        const uint8_t *p;
        uint64_t at = 0;
        ssize_t got;
        int fd = memfd_with(data, n), ret;

        ret = seal_reader_new(fd, k, "zone-uuid", 1, &r);
        while (ret >= 0) {
                got = seal_reader_next(r, &p);
                if (got <= 0) {
                        ret = (int) got;
                        break;
                }
                for (ssize_t i = 0; i < got; i++)
                        cr_assert_eq(p[i], pattern(at + (size_t) i), "byte %zu changed and still returned",
                                (size_t) (at + (size_t) i));
                at += (uint64_t) got;
        }
        if (ret == 0)
                cr_assert_eq(at, DATA_SIZE, "the stream ended early without an error: %" PRIu64 " bytes", at);
        (void) close(fd);
        return ret;
}

static int read_back(const uint8_t *data, size_t n)
{
        return read_back_with(data, n, key);
}

static uint8_t *copy(void)
{
        uint8_t *c = malloc(stream_size + SEALED_CHUNK);

        cr_assert_not_null(c);
        memcpy(c, stream, stream_size);
        return c;
}

static void put_u32(uint8_t *p, uint32_t v)
{
        memcpy(p, &v, 4); /* little endian, as the format says */
}

Test(sealed_stream, the_untouched_stream_reads_back)
{
        cr_assert_eq(read_back(stream, stream_size), 0);
}

Test(sealed_stream, another_key_is_refused)
{
        uint8_t other[16];

        memcpy(other, key, 16);
        other[15] ^= 1;
        cr_assert_eq(read_back_with(stream, stream_size, other), -EBADMSG);
}

Test(sealed_stream, not_a_sealed_stream)
{
        _cleanup_free_ uint8_t *c = copy();

        cr_assert_eq(read_back(c, 0), -EBADMSG);
        cr_assert_eq(read_back(c, header_size - 1), -EBADMSG);
        c[0] ^= 0x20;
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, chunk_size_zero_or_oversized_in_the_header)
{
        _cleanup_free_ uint8_t *c = copy();

        put_u32(c + 8, 0);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        put_u32(c + 8, UINT32_MAX);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        put_u32(c + 8, 64u * SEALED_CHUNK);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        /* a smaller chunk size is authenticated: the first chunk no longer fits or opens */
        put_u32(c + 8, SEALED_CHUNK / 2);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, any_header_byte_changed)
{
        for (size_t i = 0; i < header_size; i++) {
                _cleanup_free_ uint8_t *c = copy();

                c[i] ^= 0x01;
                cr_assert_lt(read_back(c, stream_size), 0, "header byte %zu changed unnoticed", i);
        }
}

Test(sealed_stream, chunk_length_larger_than_the_chunk)
{
        _cleanup_free_ uint8_t *c = copy();

        put_u32(c + chunk_at(0), SEALED_CHUNK + 1);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        put_u32(c + chunk_at(0), UINT32_MAX);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, chunk_length_shorter)
{
        _cleanup_free_ uint8_t *c = copy();

        put_u32(c + chunk_at(2), TAIL - 1);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        /* a zero-length chunk that is not the last would read as the end of the stream */
        put_u32(c + chunk_at(1), 0);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, bad_last_flags)
{
        _cleanup_free_ uint8_t *c = copy();

        c[chunk_at(0) + 4] = 2;
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        c[chunk_at(0) + 4] = 1; /* the first chunk claims to be the last */
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        memcpy(c, stream, stream_size);
        c[chunk_at(2) + 4] = 0; /* the last chunk claims more follow */
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
        c[chunk_at(2) + 4] = 0xff;
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, a_changed_ciphertext_or_tag_byte)
{
        static const size_t where[] = { 0, 1, SEALED_CHUNK - 1, SEALED_CHUNK, SEALED_CHUNK + CHUNK_TAG - 1 };

        for (unsigned k = 0; k < 3; k++)
                for (size_t j = 0; j < ELEMENTSOF(where); j++) {
                        _cleanup_free_ uint8_t *c = copy();
                        size_t off = chunk_at(k) + CHUNK_HEAD + where[j];

                        if (off >= stream_size)
                                continue;
                        c[off] ^= 0x80;
                        cr_assert_eq(read_back(c, stream_size), -EBADMSG, "chunk %u byte %zu", k, where[j]);
                }
}

Test(sealed_stream, a_dropped_middle_chunk)
{
        _cleanup_free_ uint8_t *c = copy();
        size_t one = chunk_at(1) - chunk_at(0);

        memmove(c + chunk_at(1), c + chunk_at(2), stream_size - chunk_at(2));
        cr_assert_eq(read_back(c, stream_size - one), -EBADMSG);
}

Test(sealed_stream, reordered_chunks)
{
        _cleanup_free_ uint8_t *c = copy();
        size_t one = chunk_at(1) - chunk_at(0);

        memcpy(c + chunk_at(0), stream + chunk_at(1), one);
        memcpy(c + chunk_at(1), stream + chunk_at(0), one);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, a_chunk_of_another_stream)
{
        /* the same key and data sealed again: a new nonce prefix, so its chunks do not fit here */
        _cleanup_free_ uint8_t *c = copy();
        size_t one = chunk_at(1) - chunk_at(0);

        drop_sample();
        seal_sample();
        memcpy(c + chunk_at(1), stream + chunk_at(1), one);
        cr_assert_eq(read_back(c, stream_size), -EBADMSG);
}

Test(sealed_stream, cut_short_anywhere_is_EPIPE)
{
        /* exactly at a chunk boundary, inside a chunk head, in the data, in the tag */
        const size_t cuts[] = { chunk_at(1), chunk_at(2), chunk_at(1) + 3, chunk_at(1) + CHUNK_HEAD,
                chunk_at(1) + CHUNK_HEAD + 10, chunk_at(2) + CHUNK_HEAD + TAIL + 1, stream_size - 1, header_size };

        for (size_t j = 0; j < ELEMENTSOF(cuts); j++)
                cr_assert_eq(read_back(stream, cuts[j]), -EPIPE, "cut at %zu of %zu", cuts[j], stream_size);
}

Test(sealed_stream, nothing_may_follow_the_last_chunk)
{
        _cleanup_free_ uint8_t *c = copy();

        c[stream_size] = 0;
        cr_assert_eq(read_back(c, stream_size + 1), -EBADMSG);
        /* the last chunk twice */
        memcpy(c + stream_size, stream + chunk_at(2), stream_size - chunk_at(2));
        cr_assert_eq(read_back(c, stream_size + (stream_size - chunk_at(2))), -EBADMSG);
}

Test(sealed_stream, an_empty_stream_is_one_last_chunk)
{
        SealWriter *w = NULL;
        _cleanup_(seal_reader_freep) SealReader *r = NULL;
        const uint8_t *p;
        int fd = memfd_create("sealed", MFD_CLOEXEC);

        cr_assert_eq(seal_writer_new(fd, key, "zone-uuid", 1, &w), 0);
        cr_assert_eq(seal_writer_finish(w), 0);
        cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
        cr_assert_eq(seal_reader_new(fd, key, "zone-uuid", 1, &r), 0);
        cr_assert_eq(seal_reader_next(r, &p), 0);
        cr_assert_eq(seal_reader_total(r), 0);
        (void) close(fd);
}

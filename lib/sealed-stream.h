/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A sealed stream: data of any length (a suspended zone's memory) encrypted and
 * authenticated with AES-128-GCM in chunks of 1 MiB. Each chunk's nonce is a
 * random prefix and its number, its associated data the header, its number and
 * whether it is the last: a chunk cannot be changed, dropped, reordered or moved
 * to another stream, and a stream cut short is detected. The key is derived from
 * the zone's keysource key with its own label (zone-key.h); the associated data
 * also holds the zone's UUID and the image's generation (kept in the header, and
 * in the zone's host data and suspend marker by whoever writes the image): an
 * image of another zone that shares the key, or an older image of this zone, is
 * refused.
 *
 *   header: "KZSUSP02" | chunk size (u32 LE) | nonce prefix (8) | generation (u64 LE)
 *   chunk:  length (u32 LE) | last (u8) | ciphertext | tag (16)
 *   associated data of a chunk: header | its number | last | the zone's UUID */

#define SEALED_CHUNK (1024u * 1024u)

typedef struct SealWriter SealWriter;
typedef struct SealReader SealReader;

int seal_writer_new(int fd, const uint8_t zone_key[16], const char *uuid, uint64_t generation, SealWriter **ret);
int seal_writer_write(SealWriter *w, const void *data, size_t n);
/* Writes the last chunk and syncs the file; frees w. */
int seal_writer_finish(SealWriter *w);
SealWriter *seal_writer_free(SealWriter *w);

/* -EBADMSG: not a sealed stream, another key or zone, or changed; -EPIPE: cut
 * short; -ESTALE: of another generation than the one expected. */
int seal_reader_new(int fd, const uint8_t zone_key[16], const char *uuid, uint64_t generation, SealReader **ret);
/* The next chunk's plaintext (borrowed until the next call); 0 at the verified end. */
ssize_t seal_reader_next(SealReader *r, const uint8_t **ret);
SealReader *seal_reader_free(SealReader *r);
uint64_t seal_reader_total(const SealReader *r);

static inline void seal_writer_freep(SealWriter **w)
{
        if (*w)
                *w = seal_writer_free(*w);
}
static inline void seal_reader_freep(SealReader **r)
{
        if (*r)
                *r = seal_reader_free(*r);
}

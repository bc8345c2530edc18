/* UTF-8 (RFC 3629): the one validator and encoder of the program, shared
 * by the JSON reader (json.c) and the control socket's reply writer. */
#ifndef IRON_UTF8_H
#define IRON_UTF8_H

#include <stddef.h>

#define UTF8_MAX_SEQUENCE 4 /* bytes of the longest sequence */

/* Length of the valid UTF-8 sequence at p, of which avail (at least 1)
 * bytes may be read: 1 for ASCII, 2 to 4 for a multi-byte sequence, 0 when
 * the bytes are not valid UTF-8 (a stray continuation byte, an overlong
 * form, a surrogate, a code point above U+10FFFF, a sequence cut short by
 * avail). */
size_t utf8_sequence(const unsigned char *p, size_t avail);

/* Encodes code point cp (at most U+10FFFF; surrogates are the caller's to
 * refuse) into out; returns the number of bytes written (1 to 4). */
size_t utf8_encode(unsigned cp, unsigned char out[UTF8_MAX_SEQUENCE]);

#endif

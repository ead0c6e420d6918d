/*
 * Shared by the files of node/mail/. Not for other folders.
 */
#ifndef COMPTOIR_MAIL_INTERNAL_H
#define COMPTOIR_MAIL_INTERNAL_H

#include "node/mail/mail.h"

/* digest.c: an RFC 5322 message (CRLF lines, the text in base64 as UTF-8,
 * the subject RFC 2047-encoded when it is not ASCII), dated now_ms. A new
 * string the caller frees, or NULL when memory is short. */
char *mail_message(const char *from, const char *to, const char *subject, const char *text,
                   uint64_t now_ms);

#endif

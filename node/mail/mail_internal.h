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

/* An attachment: its file name, MIME type and bytes (borrowed). */
typedef struct mail_attachment {
	const char *name;
	const char *type;
	const uint8_t *data;
	size_t len;
} mail_attachment_t;

/* digest.c: a message with attachments, as the outbox keeps it until
 * smtp.c gives it to libcurl's MIME builder (multipart/mixed, each part in
 * base64): {"headers": [lines without CRLF: Date, From, To, Subject
 * (RFC 2047 when not ASCII), Message-ID, Auto-Submitted], "text": the text
 * part, "attachments": [{"name", "type", "data": base64}]}. The headers are
 * fixed here, so a delivery tried again (or after a crash) is the same
 * message, Message-ID included. A new reference, NULL when memory is
 * short. */
json_t *mail_mime(const char *from, const char *to, const char *subject, const char *text,
                  const mail_attachment_t *att, size_t natt, uint64_t now_ms);

/* A person this site sends mail to: whose personal key it holds (they
 * logged in here) and whose home site it is. */
typedef struct mail_person {
	uint8_t key[CPT_KEY_LEN];
	char handle[64];
} mail_person_t;

/* digest.c: the people of site, into *out (malloc'd, the caller frees it)
 * and *n. 0 or a store error. */
int mail_people(store_t *st, const char *site, mail_person_t **out, size_t *n) CPT_WUR;

#endif

/*
 * The table of kinds: for each kind of event, its body rules, what it
 * refers to, who may sign it, whether a redaction may erase it, and what it
 * does beyond its indexes. The ingest path reads this table instead of
 * asking "which kind?" in each of its steps; a new kind is a new entry
 * (and, when it is shown, its indexes in node/index/registry.c).
 */
#include <stddef.h>
#include <stdio.h>

#include "node/event/event_internal.h"
#include "node/space/space.h"

/* The body rules of spaces (PROTOCOL.md 16.3) are node/space's, for every
 * caller; here they answer in the table's form, naming the broken rule. */
static int
s_space_rules(uint16_t kind, const json_t *b, char *why, size_t wl)
{
	const char *rule = NULL;

	if (space_body_check(kind, b, &rule) == 0)
		return 0;
	snprintf(why, wl, "the body breaks rule %s (PROTOCOL.md 16.3)", rule ? rule : "?");
	return CPT_EINVAL;
}

/* A post: its text, and its optional "space" (PROTOCOL.md 16.3). */
static int
s_check_post(const json_t *b, char *why, size_t wl)
{
	int rc = ev_check_post(b, why, wl);

	return rc != 0 ? rc : s_space_rules(EVT_POST, b, why, wl);
}

static int
s_check_space(const json_t *b, char *why, size_t wl)
{
	return s_space_rules(EVT_SPACE, b, why, wl);
}

static int
s_check_space_member(const json_t *b, char *why, size_t wl)
{
	return s_space_rules(EVT_SPACE_MEMBER, b, why, wl);
}

static int
s_check_space_key(const json_t *b, char *why, size_t wl)
{
	return s_space_rules(EVT_SPACE_KEY, b, why, wl);
}

static int
s_check_sealed(const json_t *b, char *why, size_t wl)
{
	return s_space_rules(EVT_SEALED, b, why, wl);
}

/* Indexed by kind (enum evt_kind). */
static const ev_kind_t s_kinds[] = {
    [EVT_SITE_CERT] =
        {
            .kind = EVT_SITE_CERT,
            .validate = ev_check_site_cert,
            .signers = EV_BY_ROOT,
            .trust = 1,
            .apply = ev_trust_apply, /* what depends on the site's key is settled */
            .check = ev_check_cert_v2,
        },
    [EVT_ENROL] =
        {
            .kind = EVT_ENROL,
            .validate = ev_check_enrol,
            .ref = "key", /* indexed under the enrolled key, which refers to no post */
            .ref_is_key = 1,
            .signers = EV_BY_SITE, /* under a name of its windows then (trust.c) */
            .trust = 1,
            .apply = ev_trust_apply, /* what depends on the user's key is settled */
            .remove = ev_trust_remove,
            .check = ev_check_enrol_v2,
        },
    [EVT_REVOKE] =
        {
            .kind = EVT_REVOKE,
            .validate = ev_check_revoke,
            .ref = "key",
            .ref_is_key = 1,
            .signers = EV_BY_ROOT | EV_BY_SITE, /* a site: keys enrolled under its name */
            .trust = 1,
            .apply = ev_trust_apply, /* what the key signed is judged again */
            .remove = ev_trust_remove,
            .check = ev_check_revoke_v2,
        },
    [EVT_KEY_BACKUP] =
        {
            .kind = EVT_KEY_BACKUP,
            .validate = ev_check_key_backup,
            .signers = EV_BY_USER,
            .redactable = 1,
        },
    [EVT_PROFILE] =
        {
            .kind = EVT_PROFILE,
            .validate = ev_check_profile,
            .signers = EV_BY_USER,
            .redactable = 1,
        },
    [EVT_POST] =
        {
            .kind = EVT_POST,
            .validate = s_check_post,
            .signers = EV_BY_USER,
            .redactable = 1,
            .changes_post = 1,
        },
    [EVT_COMMENT] =
        {
            .kind = EVT_COMMENT,
            .validate = ev_check_text_of,
            .ref = "post",
            .signers = EV_BY_USER,
            .redactable = 1,
            .changes_post = 1,
        },
    [EVT_REACTION] =
        {
            .kind = EVT_REACTION,
            .validate = ev_check_reaction,
            .ref = "post",
            .signers = EV_BY_USER,
            .redactable = 1,
            .changes_post = 1,
        },
    [EVT_EDIT] =
        {
            .kind = EVT_EDIT,
            .validate = ev_check_text_of,
            .ref = "post", /* the post or the comment edited */
            .signers = EV_BY_USER,
            .redactable = 1,
            .changes_post = 1,
        },
    [EVT_REDACT] =
        {
            .kind = EVT_REDACT,
            .validate = ev_check_redact,
            .ref = "target",
            .signers = EV_BY_USER,
            .changes_post = 1,
            .apply = ev_redact_apply,   /* the target's body goes, when allowed */
            .remove = ev_redact_remove, /* a target it alone erased goes too */
        },
    /* Spaces (PROTOCOL.md 16.10): admitted by who signs and the body rules
     * alone; what they do is the fold's (node/index/spaces.c). Governance
     * events carry state and are never erased. */
    [EVT_SPACE] =
        {
            .kind = EVT_SPACE,
            .validate = s_check_space,
            .signers = EV_BY_USER,
        },
    [EVT_SPACE_MEMBER] =
        {
            .kind = EVT_SPACE_MEMBER,
            .validate = s_check_space_member,
            .signers = EV_BY_USER,
        },
    [EVT_SPACE_KEY] =
        {
            .kind = EVT_SPACE_KEY,
            .validate = s_check_space_key,
            .signers = EV_BY_SITE,
        },
    [EVT_SEALED] =
        {
            .kind = EVT_SEALED,
            .validate = s_check_sealed,
            .signers = EV_BY_USER,
            .redactable = 1,
            .changes_post = 1, /* it may be a post, or change one, once opened */
        },
    /* Notifications and following (PROTOCOL.md 17): user kinds; what they
     * change is decided by views, never by acceptance. */
    [EVT_FOLLOW] =
        {
            .kind = EVT_FOLLOW,
            .validate = ev_check_follow,
            .signers = EV_BY_USER,
            .redactable = 1,
        },
    [EVT_MINE] =
        {
            .kind = EVT_MINE,
            .validate = ev_check_mine, /* the form; the plaintext is the owner's */
            .signers = EV_BY_USER,
            .redactable = 1,
        },
    [EVT_ANNOUNCE] =
        {
            .kind = EVT_ANNOUNCE,
            .validate = ev_check_announce,
            .ref = "post", /* found with the post's references */
            .signers = EV_BY_USER,
            .redactable = 1,
        },
    [EVT_ACK] =
        {
            .kind = EVT_ACK,
            .validate = ev_check_ack,
            .ref = "post",
            .signers = EV_BY_USER,
            .redactable = 1,
        },
};

/* A kind from a newer node: stored and relayed, signed by any key valid at
 * its time (the root, a site in a window, an enrolled user), erasable, with
 * no effect here. */
static const ev_kind_t s_unknown = {
    .signers = EV_BY_ANY,
    .redactable = 1,
};

const ev_kind_t *
ev_kind(unsigned kind)
{
	if (kind < sizeof(s_kinds) / sizeof(s_kinds[0]) && s_kinds[kind].kind == kind && kind != 0)
		return &s_kinds[kind];
	return &s_unknown;
}

int
ev_ref_of(const evt_t *ev, const json_t *body, uint8_t ref[CPT_ID_LEN], int keys)
{
	const ev_kind_t *k = ev_kind(ev->kind);

	if (k->ref == NULL || (k->ref_is_key && !keys))
		return 0;
	return index_hex_field(body, k->ref, ref) == 0;
}

int
event_redactable(unsigned kind)
{
	return ev_kind(kind)->redactable;
}

int
event_changes_post(unsigned kind)
{
	return ev_kind(kind)->changes_post;
}

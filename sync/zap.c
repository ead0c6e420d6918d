/*
 * Admission of sites: the ZAP handler (RFC 27) that admits only the CURVE keys
 * of certified, unrevoked sites, its rate-limited log of refusals, and the
 * re-check of every link when the trust state changes (a revocation).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sync/sync_internal.h"

#define REVOKE_GRACE_MS 1000 /* a revoked peer's link stays open this long for what was sent */

/* Connections refused at the ZAP stage are logged per address and key:
 * the first of a window (sync.refused_log_s, a minute by default) in full,
 * the next ones counted and summed up in one line at the end of the window
 * (a site redialing every few seconds, or a flood from one address, writes
 * two lines a minute). Past REFUSED_SLOTS pairs, one line a window counts
 * all the others: whatever the flood, a bounded number of lines. */

int
zap_start(sync_t *s, char *err, size_t errlen)
{
	int zero = 0;

	/* Before any CURVE socket binds: a CURVE server without its handler
	 * admits anyone (PITFALLS 1). */
	s->zap = zmq_socket(s->ctx, ZMQ_REP);
	if (s->zap)
		zmq_setsockopt(s->zap, ZMQ_LINGER, &zero, sizeof(zero));
	if (s->zap == NULL || zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0) {
		snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/* Logs a connection refused at the ZAP stage, rate-limited per address. */
static void
s_log_refused(sync_t *s, const char *from, size_t len, const char *key_hex, const char *why)
{
	char addr[64];
	size_t n = len < sizeof(addr) - 1 ? len : sizeof(addr) - 1;
	zap_refused_t *free_slot = NULL;

	/* Bytes from the wire: printable only. */
	for (size_t i = 0; i < n; i++) {
		char c = from[i];
		addr[i] = c > 0x20 && c < 0x7f ? c : '?';
	}
	addr[n] = 0;
	for (int i = 0; i < REFUSED_SLOTS; i++) {
		zap_refused_t *r = &s->refused[i];
		if (r->addr[0] && strcmp(r->addr, addr) == 0 && strcmp(r->key, key_hex) == 0) {
			r->more++;
			return;
		}
		if (!r->addr[0] && !free_slot)
			free_slot = r;
	}
	if (free_slot == NULL) {
		if (s->refused_other++ == 0)
			s->refused_other_since = sync_now_ms();
		return;
	}
	snprintf(free_slot->addr, sizeof(free_slot->addr), "%s", addr);
	snprintf(free_slot->key, sizeof(free_slot->key), "%s", key_hex);
	free_slot->since_ms = sync_now_ms();
	free_slot->more = 0;
	log_warnx("sync",
	          "refused a connection from %s at the ZAP stage curve_key=%s: %s "
	          "(the same again within a minute is counted, not logged one by one)",
	          addr, key_hex, why);
}

/* At the end of each address's minute: one line with what was not logged,
 * and the address's slot freed once it stayed quiet a whole minute. */
void
zap_tick(sync_t *s, uint64_t now)
{
	if (sync_since(now, s->refused_check_ms) < 1000)
		return;
	s->refused_check_ms = now;
	for (int i = 0; i < REFUSED_SLOTS; i++) {
		zap_refused_t *r = &s->refused[i];
		if (!r->addr[0] || sync_since(now, r->since_ms) < s->conf.refused_log_ms)
			continue;
		if (r->more == 0) {
			r->addr[0] = 0;
			continue;
		}
		log_warnx("sync",
		          "refused %llu more connections from %s at the ZAP stage in the "
		          "last %llu s curve_key=%s",
		          (unsigned long long)r->more, r->addr,
		          (unsigned long long)sync_since(now, r->since_ms) / 1000, r->key);
		r->more = 0;
		r->since_ms = now;
	}
	if (s->refused_other && sync_since(now, s->refused_other_since) >= s->conf.refused_log_ms) {
		log_warnx("sync",
		          "refused %llu connections at the ZAP stage in the last %llu s from "
		          "addresses and keys past the %d logged one by one",
		          (unsigned long long)s->refused_other,
		          (unsigned long long)sync_since(now, s->refused_other_since) / 1000,
		          REFUSED_SLOTS);
		s->refused_other = 0;
	}
}

/* ZAP (RFC 27): admit only the CURVE keys of certified, unrevoked sites of
 * this federation; the User-Id is the site's signing key in hex. */
int
zap_on_request(sync_t *s)
{
	zmq_msg_t m[8];
	int overflow;
	size_t n = recv_msg(s->zap, m, 8, &overflow);
	const char *status = "400", *text = "not a certified site of this federation";
	char uid[CPT_HEX_ID] = "";
	char site[64] = "";

	if (n >= 7 && !overflow && zmq_msg_size(&m[2]) == strlen(SYNC_ZAP_DOMAIN) &&
	    memcmp(zmq_msg_data(&m[2]), SYNC_ZAP_DOMAIN, strlen(SYNC_ZAP_DOMAIN)) == 0 &&
	    zmq_msg_size(&m[5]) == 5 && memcmp(zmq_msg_data(&m[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&m[6]) == CPT_KEY_LEN) {
		uint8_t sign[CPT_KEY_LEN];
		link_t *l;
		if (s->conf.ops.admit(s->conf.ops.ctx, zmq_msg_data(&m[6]), sign, site)) {
			l = link_by_key(s, sign);
			if (l && l->ban_until_ms > sync_now_ms()) {
				text = "banned for a while";
			} else {
				status = "200";
				text = "OK";
				cpt_hex32(uid, sign);
				if (l && l->revoked) { /* certified again (a new certificate) */
					l->revoked = 0;
					l->close_ms = 0;
					pthread_mutex_lock(&s->lock);
					l->st.revoked = 0;
					pthread_mutex_unlock(&s->lock);
				}
			}
		}
	}
	if (n >= 2) {
		if (strcmp(status, "200") != 0) {
			char hex[CPT_HEX_ID] = "?";
			if (n >= 7 && zmq_msg_size(&m[6]) == CPT_KEY_LEN)
				cpt_hex32(hex, zmq_msg_data(&m[6]));
			/* Frame 3 is the client's address (RFC 27). */
			s_log_refused(s, n >= 4 ? zmq_msg_data(&m[3]) : "?",
			              n >= 4 ? zmq_msg_size(&m[3]) : 1, hex, text);
		}
		zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE);
		zmq_send(s->zap, zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), ZMQ_SNDMORE);
		zmq_send(s->zap, status, 3, ZMQ_SNDMORE);
		zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE);
		zmq_send(s->zap, uid, strlen(uid), ZMQ_SNDMORE);
		zmq_send(s->zap, "", 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return n > 0;
}

/*
 * A revoked or expired peer that we dial, certified again (its certificate
 * renewed): dialed again now. One that dials us is let back in by the ZAP
 * handler above; one we dial never dials, so without this its link stayed
 * down for good (issue 24).
 */
static void
s_certified_again(sync_t *s, link_t *l)
{
	uint8_t sign[CPT_KEY_LEN];
	char site[64];

	if (l->st.endpoint[0] == 0 || link_learn(s, l) != 0 ||
	    !s->conf.ops.admit(s->conf.ops.ctx, l->curve, sign, site) ||
	    memcmp(sign, l->st.site_key, CPT_KEY_LEN) != 0)
		return;
	l->revoked = 0;
	l->close_ms = 0; /* still open in its grace second: it stays */
	l->next_dial_ms = 0;
	l->dial_warned = 0;
	pthread_mutex_lock(&s->lock);
	l->st.revoked = 0;
	pthread_mutex_unlock(&s->lock);
	log_warnx("sync", "site=%s is certified again: dialing it", link_name(l));
}

void
zap_recheck(sync_t *s)
{
	s->timers_due = 1; /* links closed or shut out: their deadlines change */
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		uint8_t sign[CPT_KEY_LEN];
		char site[64];
		if (l->used && l->revoked)
			s_certified_again(s, l);
		if (!l->used || l->revoked || (!l->has_curve && link_learn(s, l) != 0))
			continue;
		if (s->conf.ops.admit(s->conf.ops.ctx, l->curve, sign, site) &&
		    memcmp(sign, l->st.site_key, CPT_KEY_LEN) == 0)
			continue;
		log_warnx("sync", "site=%s is no longer certified: closing its link", link_name(l));
		/* What was sent to it last is likely the revocation itself: the
		 * link stays open until that is acknowledged, or a second, so
		 * that the revoked site learns why nobody answers any more. */
		l->revoked = 1;
		l->grace_acks = l->inflight + l->inflight_small;
		pthread_mutex_lock(&s->lock);
		l->st.revoked = 1;
		pthread_mutex_unlock(&s->lock);
		link_set_connected(s, l, 0);
		if (l->grace_acks > 0)
			l->close_ms = sync_now_ms() + REVOKE_GRACE_MS;
		else
			link_revoked_close(l);
	}
}

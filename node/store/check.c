/*
 * Reading a store in a child process: LMDB has no checksums (PITFALLS 23), so
 * a damaged page can crash whoever reads it (SIGSEGV, SIGBUS, or an LMDB
 * assertion that aborts). The child says where it is through a pipe, and a
 * crash becomes a message naming the file, the database and what to do.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/store/store.h"

struct chk {
	int fd; /* the pipe to the parent */
};

/* Writes one line to the parent: a tag character, then text without newlines. */
static void
s_line(int fd, char tag, const char *text)
{
	char buf[1200];
	size_t n = 0;

	buf[n++] = tag;
	for (const char *p = text; *p && n < sizeof(buf) - 1; p++)
		buf[n++] = *p == '\n' ? ' ' : *p;
	buf[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

void
chk_at(chk_t *c, const char *fmt, ...)
{
	char where[1024];
	va_list ap;

	if (c == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(where, sizeof(where), fmt, ap);
	va_end(ap);
	s_line(c->fd, '@', where);
}

void
chk_data(chk_t *c, const char *line)
{
	s_line(c->fd, 'D', line);
}

void
chk_walk_progress(void *arg, const store_walk_pos_t *pos)
{
	char hex[2 * sizeof(pos->key) + 1];

	for (size_t i = 0; i < pos->key_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", pos->key[i]);
	hex[2 * pos->key_len] = 0;
	if (pos->entries == 0)
		chk_at(arg, "database \"%s\", at its start", pos->db);
	else if (pos->key_len == 0)
		chk_at(arg, "database \"%s\", after %zu entries", pos->db, pos->entries);
	else
		chk_at(arg, "database \"%s\", after %zu entries (key %s...)", pos->db, pos->entries,
		       hex);
}

static const char *
s_signame(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGABRT: return "SIGABRT, an LMDB assertion";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGKILL: return "SIGKILL";
	}
	return "a signal";
}

int
chk_run(const char *dir, chk_fn fn, void *arg, chk_data_fn on_data, void *data_arg, char *err,
        size_t errlen)
{
	char where[1200] = "", result[1200] = "", line[1200];
	size_t ll = 0;
	int fds[2], status = 0, rc, got_result = 0;
	pid_t pid;

	err[0] = 0;
	if (pipe(fds) != 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return CPT_EIO;
	}
	/* What the parent buffered must not be written twice. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "cannot start a process: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return CPT_EIO;
	}
	if (pid == 0) {
		chk_t c = {fds[1]};
		char msg[1100] = "";
		close(fds[0]);
		/* A crash here is the parent's to tell, not the child's. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		rc = fn(&c, arg, msg, sizeof(msg));
		{
			char res[1200];
			snprintf(res, sizeof(res), "%d %s", rc, msg);
			s_line(fds[1], '=', res);
		}
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	close(fds[1]);
	/* Every line: '@' where the child is, 'D' data for on_data, '=' its
	 * result "rc message". */
	for (;;) {
		char buf[4096];
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			if (line[0] == '@')
				snprintf(where, sizeof(where), "%s", line + 1);
			else if (line[0] == 'D' && on_data)
				on_data(data_arg, line + 1);
			else if (line[0] == '=') {
				snprintf(result, sizeof(result), "%s", line + 1);
				got_result = 1;
			}
			ll = 0;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got_result && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		char *msg;
		rc = (int)strtol(result, &msg, 10);
		if (*msg == ' ')
			msg++;
		snprintf(err, errlen, "%s", msg);
		return rc;
	}
	/* The child died while reading: the store is damaged (or, rarely, a
	 * bug crashed it; either way the parent lives to say so). */
	{
		char how[64], hint[4400];
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "%s", s_signame(WTERMSIG(status)));
		else
			snprintf(how, sizeof(how), "it stopped with exit status %d",
			         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		snprintf(hint, sizeof(hint), STORE_REPAIR_HINT, dir);
		snprintf(err, errlen,
		         "%s/store/data.mdb is damaged: reading it crashed (%s)%s%s; %s", dir, how,
		         where[0] ? " in " : "", where, hint);
	}
	return CPT_EDAMAGED;
}

struct walk_arg {
	const char *dir; /* the data directory */
	int light;       /* only what every command reads */
};

static int
s_walk_child(chk_t *c, void *arg, char *err, size_t errlen)
{
	struct walk_arg *a = arg;
	size_t n;
	int rc = store_walk(a->dir, a->light ? STORE_WALK_LIGHT : 0, chk_walk_progress, c, &n, err,
	                    errlen);

	if (rc == 0)
		snprintf(err, errlen, "%zu", n);
	return rc;
}

int
chk_store(const char *dir, int light, size_t *entries, char *err, size_t errlen)
{
	struct walk_arg a = {dir, light};
	int rc = chk_run(dir, s_walk_child, &a, NULL, NULL, err, errlen);

	if (rc == 0) {
		if (entries)
			*entries = (size_t)strtoull(err, NULL, 10);
		err[0] = 0;
	}
	return rc;
}

/*
 * Customers of an accounting source (QuickBooks) matched to CRM contacts.
 * Money arrives under the accounting system's own customer ids, mail goes
 * to the CRM's contacts: attribution needs the link between them.  A
 * customer is matched when it is seen, on the first of three rules that
 * finds a contact: the same e-mail, else the same phone (both normalised by
 * the maps), else the same normalised address (fs_address_key, within the
 * same ZIP or postal code).  Several contacts on one rule: the one updated
 * last wins, and the count is kept so a report can say the match is
 * ambiguous.  The match, its reason and what it was made on are stored in
 * customer_matches; a customer with none is matched again at the end of
 * every fs-normalize run that saw events, since its contact may only reach
 * the state after it (fieldsync-quickbooks(7)).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "fieldsync.h"

/* What a customer is matched on, as its map writes it. */
enum { CU_EMAIL, CU_PHONE, CU_LINE1, CU_LINE2, CU_CITY, CU_REGION, CU_POSTAL, CU_N };

struct match {
	char *contact;	/* NULL: none */
	const char *reason;
	int candidates;
};

/* The contact updated last among those whose column equals value. */
static int
by_column(struct fs_state *st, const char *sql, const char *value, struct match *m, const char *reason)
{
	fs_stmt *q;
	int rc;

	if (value == NULL || *value == '\0')
		return 0;
	if ((q = fs_state_query(st, sql, "s", value)) == NULL)
		return -1;
	if ((rc = fs_state_step_row(st, q)) == 1) {
		m->contact = fs_col_dup(q, 0);
		m->candidates = fs_col_int(q, 1);
		m->reason = reason;
		fs_stmt_reset(q);
	}
	return rc < 0 ? -1 : 0;
}

/* The postal code's prefix every form of it starts with: a US ZIP's five digits. */
static char *
postal_prefix(const char *postal)
{
	size_t digits = 0;

	if (postal == NULL || *postal == '\0')
		return NULL;
	while (digits < 5 && isdigit((unsigned char)postal[digits]))
		digits++;
	return digits == 5 ? fs_xasprintf("%.5s", postal) : fs_xstrdup(postal);
}

/* The contact updated last whose normalised address is the customer's. */
static int
by_address(struct fs_state *st, const char *const v[], struct match *m)
{
	char *key = fs_address_key(v[CU_LINE1], v[CU_LINE2], v[CU_CITY], v[CU_REGION], v[CU_POSTAL]);
	char *prefix = postal_prefix(v[CU_POSTAL]);
	fs_stmt *q = NULL;
	int rc = 0;

	if (key == NULL || prefix == NULL)
		goto out;
	q = fs_state_query(st, "SELECT id, line1, line2, city, region, postal_code FROM contacts"
			       " WHERE postal_code >= ?1 AND postal_code < ?1 || char(127)"
			       " ORDER BY updated_at DESC, id", "s", prefix);
	if (q == NULL) {
		rc = -1;
		goto out;
	}
	while ((rc = fs_stmt_step(q)) == FS_ROW) {
		const char *c[5];
		char *theirs;

		for (int i = 0; i < 5; i++)
			c[i] = fs_col_text(q, 1 + i);
		if ((theirs = fs_address_key(c[0], c[1], c[2], c[3], c[4])) != NULL && strcmp(theirs, key) == 0) {
			if (m->contact == NULL) {
				m->contact = fs_col_dup(q, 0);
				m->reason = "address";
			}
			m->candidates++;
		}
		free(theirs);
	}
	if (rc != FS_DONE) {
		fs_state_error(st, "customer match");
		rc = -1;
	} else {
		rc = 0;
	}
	fs_stmt_reset(q);
out:
	free(key);
	free(prefix);
	return rc;
}

static int
match(struct fs_state *st, const char *const v[], struct match *m)
{
	m->contact = NULL;
	m->reason = "none";
	m->candidates = 0;
	/* Made at the first customer (lib/schema.c, 7 -> 8, says why); a no-op after. */
	if (fs_state_exec(st, "CREATE INDEX IF NOT EXISTS contacts_by_phone ON contacts(phone);"
			      "CREATE INDEX IF NOT EXISTS contacts_by_postal_code ON contacts(postal_code)") != 0)
		return -1;
	if (by_column(st, "SELECT id, count(*) OVER () FROM contacts WHERE email = ?1 ORDER BY updated_at DESC, id"
			  " LIMIT 1", v[CU_EMAIL], m, "email") != 0)
		return -1;
	if (m->contact == NULL &&
	    by_column(st, "SELECT id, count(*) OVER () FROM contacts WHERE phone = ?1 ORDER BY updated_at DESC, id"
			  " LIMIT 1", v[CU_PHONE], m, "phone") != 0)
		return -1;
	if (m->contact == NULL && by_address(st, v, m) != 0)
		return -1;
	return 0;
}

int
fs_customer_observe(struct fs_state *st, const char *source, const char *version, jv data, bool *matched)
{
	static const char *const names[CU_N] = {"email", "phone", "line1", "line2", "city", "region", "postal_code"};
	jv address = fs_jget(data, "address");
	const char *v[CU_N], *name = fs_jstr(data, "company");
	char now[21], *full = NULL;
	struct match m;
	int rc;

	for (int i = 0; i < CU_N; i++)
		v[i] = fs_jstr(i >= CU_LINE1 ? address : data, names[i]);
	*matched = false;
	if (fs_jstr(data, "id") == NULL) {
		jv_free(address);
		return 0;
	}
	if (match(st, v, &m) != 0) {
		free(m.contact);
		jv_free(address);
		return -1;
	}
	if (name == NULL && (fs_jstr(data, "first_name") || fs_jstr(data, "last_name")))
		name = full = fs_xasprintf("%s%s%s", fs_jstr(data, "first_name") ? fs_jstr(data, "first_name") : "",
					   fs_jstr(data, "first_name") && fs_jstr(data, "last_name") ? " " : "",
					   fs_jstr(data, "last_name") ? fs_jstr(data, "last_name") : "");
	fs_time_format(fs_now(), now);
	/* An older version read again (a replay, a re-pull) changes nothing. */
	rc = fs_state_run(st,
	    "INSERT INTO customer_matches (source, customer_id, version, name, email, phone, line1, line2, city,"
	    " region, postal_code, contact_id, reason, candidates, matched_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
	    " ON CONFLICT (source, customer_id) DO UPDATE SET version = ?3, name = ?4, email = ?5, phone = ?6,"
	    " line1 = ?7, line2 = ?8, city = ?9, region = ?10, postal_code = ?11, contact_id = ?12, reason = ?13,"
	    " candidates = ?14, matched_at = ?15 WHERE ?3 >= customer_matches.version",
	    "sssssssssssssis", source, fs_jstr(data, "id"), version, name, v[CU_EMAIL], v[CU_PHONE], v[CU_LINE1],
	    v[CU_LINE2], v[CU_CITY], v[CU_REGION], v[CU_POSTAL], m.contact, m.reason, (int64_t)m.candidates, now);
	*matched = m.contact != NULL;
	free(m.contact);
	free(full);
	jv_free(address);
	return rc;
}

int
fs_customers_rematch(struct fs_state *st, int64_t *matched)
{
	struct row {
		char *source, *id, *v[CU_N];
	} *rows = NULL;
	size_t n = 0;
	fs_stmt *q;
	char now[21];
	int rc;

	*matched = 0;
	q = fs_state_query(st, "SELECT source, customer_id, email, phone, line1, line2, city, region, postal_code"
			       " FROM customer_matches WHERE contact_id IS NULL", "");
	if (q == NULL)
		return -1;
	while ((rc = fs_stmt_step(q)) == FS_ROW) {
		rows = fs_xrealloc(rows, (n + 1) * sizeof *rows);
		rows[n].source = fs_col_dup(q, 0);
		rows[n].id = fs_col_dup(q, 1);
		for (int i = 0; i < CU_N; i++)
			rows[n].v[i] = fs_col_dup(q, 2 + i);
		n++;
	}
	if (rc != FS_DONE)
		fs_state_error(st, "customer match");
	fs_stmt_reset(q);
	rc = rc == FS_DONE ? 0 : -1;
	/* Most runs have nobody to match: they take no write lock. */
	if (rc == 0 && n > 0)
		rc = fs_state_begin(st);
	fs_time_format(fs_now(), now);
	for (size_t i = 0; i < n; i++) {
		struct match m = {0};

		if (rc == 0) {
			rc = match(st, (const char *const *)rows[i].v, &m);
			if (rc == 0 && m.contact) {
				rc = fs_state_run(st, "UPDATE customer_matches SET contact_id = ?, reason = ?,"
						      " candidates = ?, matched_at = ? WHERE source = ? AND customer_id = ?",
						  "ssisss", m.contact, m.reason, (int64_t)m.candidates, now,
						  rows[i].source, rows[i].id);
				*matched += rc == 0;
			}
			free(m.contact);
		}
		free(rows[i].source);
		free(rows[i].id);
		for (int k = 0; k < CU_N; k++)
			free(rows[i].v[k]);
	}
	free(rows);
	if (n > 0 && (rc != 0 || fs_state_commit(st) != 0)) {
		fs_state_rollback(st);
		*matched = 0;
		return -1;
	}
	return rc;
}

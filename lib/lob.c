/*
 * Lob requests for fs-push: the create body for a mail.requested event (as
 * Lob's OpenAPI spec defines POST /postcards and POST /letters), and the
 * parts of Lob's answers fs-push reads.
 *
 * Address limits: a name (or company) longer than 40 characters is cut to
 * 40 at a character boundary, since a shortened name still reaches the
 * door; an address line longer than Lob allows (64 characters in the US,
 * 200 abroad) is refused here and the row goes to the DLQ, since a cut
 * street address can send the piece to the wrong place.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* Characters (code points) in a UTF-8 string. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* The first max characters of s, trailing spaces dropped. */
static jv
cut(const char *s, size_t max)
{
	size_t n = 0, i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == max)
			break;
	}
	while (i > 0 && s[i - 1] == ' ')
		i--;
	return jv_string_sized(s, (int)i);
}

static bool
is_us(const char *country)
{
	return country == NULL || *country == '\0' || strcmp(country, "US") == 0;
}

/* metadata values: at most 500 characters, no '"' or '\'. */
static jv
meta_value(const char *s)
{
	if (s == NULL || strpbrk(s, "\"\\") != NULL)
		return jv_invalid();
	return cut(s, 500);
}

static jv
lob_address(jv to, struct fs_buf *why)
{
	static const struct {
		const char *from, *to;
		bool line;
	} keys[] = {
		{"line1", "address_line1", true}, {"line2", "address_line2", true},
		{"city", "address_city", false}, {"region", "address_state", false},
		{"postal_code", "address_zip", false}, {NULL, NULL, false},
	};
	const char *country = fs_jstr(to, "country"), *name = fs_jstr(to, "name");
	size_t line_max = is_us(country) ? 64 : 200;
	jv a = jv_object();

	if (name && *name)
		a = jv_object_set(a, jv_string("name"), cut(name, 40));
	if (fs_jstr(to, "company") && *fs_jstr(to, "company"))
		a = jv_object_set(a, jv_string("company"), cut(fs_jstr(to, "company"), 40));
	for (int i = 0; keys[i].from; i++) {
		const char *v = fs_jstr(to, keys[i].from);

		if (v == NULL || *v == '\0')
			continue;
		if (keys[i].line && chars(v) > line_max)
			fs_buf_addf(why, "%sto.%s is longer than %zu characters (Lob's limit)",
				    why->len ? "; " : "", keys[i].from, line_max);
		else if (!keys[i].line && chars(v) > 200)
			fs_buf_addf(why, "%sto.%s is longer than 200 characters (Lob's limit)",
				    why->len ? "; " : "", keys[i].from);
		a = jv_object_set(a, jv_string(keys[i].to), jv_string(v));
	}
	a = jv_object_set(a, jv_string("address_country"), jv_string(is_us(country) ? "US" : country));
	return a;
}

int
fs_lob_create_body(jv ev, const struct fs_lob_opts *o, const char **resource, char **body, struct fs_buf *why)
{
	jv data = fs_jget(ev, "data"), to = fs_jget(data, "to"), req = jv_object(), meta = jv_object(), v;
	const char *format = fs_jstr(data, "format"), *template = fs_jstr(data, "template");
	const char *back = fs_jstr(data, "back"), *from = fs_jstr(data, "from");
	const char *campaign = fs_jstr(data, "campaign"), *contact = fs_jstr(data, "contact_id");
	bool letter = format && strcmp(format, "letter") == 0;
	char *desc;

	*body = NULL;
	*resource = letter ? "letters" : "postcards";
	if (format && !letter && strcmp(format, "postcard") != 0)
		fs_buf_addf(why, "%sformat must be postcard or letter, not \"%s\"", why->len ? "; " : "", format);
	if (jv_get_kind(to) != JV_KIND_OBJECT)
		fs_buf_addf(why, "%smissing \"to\"", why->len ? "; " : "");
	if (template == NULL)
		fs_buf_addf(why, "%scampaign \"%s\" has no template", why->len ? "; " : "", campaign ? campaign : "");
	if (letter && from == NULL)
		fs_buf_addf(why, "%sa letter needs a return address: campaign \"%s\" has no 'from'",
			    why->len ? "; " : "", campaign ? campaign : "");
	if (jv_get_kind(to) == JV_KIND_OBJECT)
		req = jv_object_set(req, jv_string("to"), lob_address(to, why));
	if (from)
		req = jv_object_set(req, jv_string("from"), jv_string(from));
	if (letter) {
		if (template)
			req = jv_object_set(req, jv_string("file"), jv_string(template));
		req = jv_object_set(req, jv_string("color"), jv_bool(o->color));
	} else if (template) {
		req = jv_object_set(req, jv_string("front"), jv_string(template));
		req = jv_object_set(req, jv_string("back"), jv_string(back ? back : template));
	}
	if (o->size)
		req = jv_object_set(req, jv_string("size"), jv_string(o->size));
	if (o->mail_type)
		req = jv_object_set(req, jv_string("mail_type"), jv_string(o->mail_type));
	if (o->send_date)
		req = jv_object_set(req, jv_string("send_date"), jv_string(o->send_date));
	req = jv_object_set(req, jv_string("use_type"), o->use_type ? jv_string(o->use_type) : jv_null());
	desc = fs_xasprintf("fieldsync %s for contact %s", campaign ? campaign : "", contact ? contact : "");
	req = jv_object_set(req, jv_string("description"), cut(desc, 255));
	free(desc);
	if (jv_is_valid(v = meta_value(fs_jstr(ev, "id"))))
		meta = jv_object_set(meta, jv_string("event_id"), v);
	if (jv_is_valid(v = meta_value(contact)))
		meta = jv_object_set(meta, jv_string("contact_id"), v);
	if (jv_is_valid(v = meta_value(campaign)))
		meta = jv_object_set(meta, jv_string("campaign"), v);
	req = jv_object_set(req, jv_string("metadata"), meta);
	jv_free(to);
	jv_free(data);
	if (why->len > 0) {
		jv_free(req);
		return -1;
	}
	*body = fs_jdump(req);
	jv_free(req);
	return 0;
}

int
fs_lob_piece_parse(const char *resp, char **vendor_id, char **created_at)
{
	jv v = jv_parse(resp ? resp : "");
	const char *id, *at;
	int rc = -1;

	*vendor_id = *created_at = NULL;
	if (jv_get_kind(v) == JV_KIND_OBJECT && (id = fs_jstr(v, "id")) != NULL &&
	    (strncmp(id, "psc_", 4) == 0 || strncmp(id, "ltr_", 4) == 0)) {
		fs_time t;
		char buf[21];

		*vendor_id = fs_xstrdup(id);
		if ((at = fs_jstr(v, "date_created")) != NULL && fs_time_parse(at, &t) == 0) {
			fs_time_format(t, buf);
			*created_at = fs_xstrdup(buf);
		}
		rc = 0;
	}
	jv_free(v);
	return rc;
}

int
fs_lob_list_first(const char *resp, char **vendor_id, char **created_at)
{
	jv v = jv_parse(resp ? resp : ""), data = fs_jget(v, "data");
	int rc = -1;

	*vendor_id = *created_at = NULL;
	if (jv_get_kind(data) == JV_KIND_ARRAY) {
		rc = 0;
		/* Listed newest first; the piece that counts is the first one made. */
		for (int i = jv_array_length(jv_copy(data)) - 1; i >= 0 && *vendor_id == NULL; i--) {
			jv p = jv_array_get(jv_copy(data), i), del = fs_jget(p, "deleted");
			char *s = fs_jdump(p);

			if (jv_get_kind(p) != JV_KIND_OBJECT || jv_get_kind(del) == JV_KIND_TRUE) {
				/* a canceled piece does not count */
			} else if (fs_lob_piece_parse(s, vendor_id, created_at) != 0) {
				rc = -1;
			}
			free(s);
			jv_free(del);
			jv_free(p);
		}
	}
	jv_free(data);
	jv_free(v);
	return rc;
}

char *
fs_lob_error(const char *resp, char **code)
{
	jv v = jv_parse(resp ? resp : ""), err = fs_jget(v, "error");
	char *msg = NULL;

	*code = NULL;
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		if (fs_jstr(err, "code"))
			*code = fs_xstrdup(fs_jstr(err, "code"));
		if (fs_jstr(err, "message"))
			msg = fs_xstrdup(fs_jstr(err, "message"));
	}
	jv_free(err);
	jv_free(v);
	return msg;
}

const char *
fs_lob_resource_of(const char *vendor_id)
{
	if (strncmp(vendor_id, "psc_", 4) == 0)
		return "postcards";
	if (strncmp(vendor_id, "ltr_", 4) == 0)
		return "letters";
	return NULL;
}

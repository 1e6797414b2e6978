/*
 * fs-pull --describe of a connector whose fields are its own, not asked of
 * the vendor (the vendor's schema is the same for every account: Jobber,
 * ServiceTitan): the fields it reads of a contact and of a job, with the
 * vendor's types, printed and kept in the state file, where fs-normalize
 * checks campaign triggers against them.  A field is "mapped" when the
 * source's map reads it, or when it is derived by the map.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

/* One object's fields: printed (NAME TYPE LABEL MAPPED VALUES, jobs' prefixed "jobs."), and listed. */
static jv
describe_fields(struct fs_pull *p, const char *object, const char *mapkey, const struct fs_field_desc *fields)
{
	char *path = fs_map_find(fs_setting(&p->ep, mapkey));
	struct fs_map *m = path ? fs_map_load(path, jv_object()) : NULL;
	const char *const *reads = NULL;
	bool jobs = strcmp(object, "jobs") == 0;
	int nreads = 0;
	jv listing = jv_array();

	free(path);
	if (m)
		reads = fs_map_reads(m, &nreads);
	for (const struct fs_field_desc *f = fields; f->name; f++) {
		bool mapped = strcmp(f->type, "derived") == 0;
		jv values = f->values ? fs_split_list(f->values) : jv_array(), e;

		for (int k = 0; k < nreads; k++) {
			const char *r = reads[k][0] == '?' ? reads[k] + 1 : reads[k];
			size_t n = strlen(f->name);

			mapped |= strncmp(r, "data.", 5) == 0 && strncmp(r + 5, f->name, n) == 0 &&
				  (r[5 + n] == '\0' || r[5 + n] == '.');
		}
		printf("%s%s\t%s\t%s\t%s\t%s\n", jobs ? "jobs." : "", f->name, f->type, f->label, mapped ? "mapped" : "-",
		       f->values ? f->values : "-");
		e = jv_object_set(jv_object(), jv_string("name"), jv_string(f->name));
		e = jv_object_set(e, jv_string("type"), jv_string(f->type));
		e = jv_object_set(e, jv_string("label"), jv_string(f->label));
		e = jv_object_set(e, jv_string("options"), values);
		e = jv_object_set(e, jv_string("mapped"), mapped ? jv_true() : jv_false());
		listing = jv_array_append(listing, e);
	}
	fs_map_free(m);
	return listing;
}

int
fs_describe_fixed(struct fs_pull *p, const char *contacts_map, const struct fs_field_desc *contacts,
		  const char *jobs_map, const struct fs_field_desc *jobs)
{
	struct fs_state *st = &p->cli->st;
	jv c = describe_fields(p, "contacts", contacts_map, contacts);
	jv j = describe_fields(p, "jobs", jobs_map, jobs);
	int rc = 0;

	if (fs_state_begin(st) != 0 || fs_source_fields_store(st, p->name, "contacts", c) != 0 ||
	    fs_source_fields_store(st, p->name, "jobs", j) != 0 || fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		fs_pull_fail(p, FS_EXIT_STATE);
		rc = -1;
	}
	jv_free(c);
	jv_free(j);
	return rc == 0 ? fs_pull_flush(p) : -1;
}

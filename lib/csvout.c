/*
 * CSV cells for the files fieldsync writes for people: RFC 4180, and safe
 * to open in a spreadsheet.
 *
 * Owner ids, contact and deal ids, currencies and campaign names come from
 * the CRM: whoever may edit a CRM record chooses them.  A cell that starts
 * with = + - @, a tab or a carriage return is a formula to Excel, LibreOffice
 * and Google Sheets (=HYPERLINK(...), -2+3+cmd|' /C calc'!A0), so such a
 * cell is neutralised as OWASP's "CSV Injection" page recommends: a leading
 * single quote, which the spreadsheet shows as text, and the cell quoted.
 * A plain number ("-12.5") is left as it is: a spreadsheet reads it as the
 * number it is, and runs nothing.
 */
#include <string.h>

#include "fieldsync.h"

static bool
digits(const char *s, size_t n, size_t *i)
{
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i > start;
}

bool
fs_csv_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (!digits(s, n, &i))
		return false;
	if (i < n && s[i] == '.') {
		i++;
		if (!digits(s, n, &i))
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!digits(s, n, &i))
			return false;
	}
	return i == n;
}

void
fs_csv_cell(struct fs_buf *b, const char *s, size_t n)
{
	bool formula = n > 0 && strchr("=+-@\t\r", s[0]) != NULL && !fs_csv_number(s, n);
	bool quote = formula || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (!quote) {
		fs_buf_add(b, s, n);
		return;
	}
	fs_buf_addc(b, '"');
	if (formula)
		fs_buf_addc(b, '\'');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fs_buf_addc(b, '"');
		fs_buf_addc(b, s[i]);
	}
	fs_buf_addc(b, '"');
}

int
fs_csv_fcell(FILE *f, const char *s)
{
	struct fs_buf b = {0};
	int rc = 0;

	if (s == NULL)
		return 0;
	fs_csv_cell(&b, s, strlen(s));
	if (b.len > 0 && fwrite(b.data, 1, b.len, f) != b.len)
		rc = -1;
	fs_buf_free(&b);
	return rc;
}

# Helpers shared by the shipped maps (included by fs-normalize before each map).
#
# Every value here comes from a CRM or a vendor, so the helpers take care
# with what libjq 1.6 does badly: todate aborts the process (an assertion)
# on a number of seconds gmtime cannot convert, so times are range-checked
# first; sub and gsub are quadratic (a regex that backtracks over a run of
# blanks, an edit per match), so the helpers that read whole strings walk
# their code points once instead (explode), as lib/fastmap.c does in C.
#
# Oniguruma's \s, code point by code point (lib/fastmap.c's is_space).
def fs_is_space:
  (. >= 9 and . <= 13) or . == 32 or . == 133 or . == 160 or . == 5760 or (. >= 8192 and . <= 8202)
  or . == 8232 or . == 8233 or . == 8239 or . == 8287 or . == 12288;
# The index of the last code point of $c at or before $k that is not f; -1 when none.
def fs_last_not($c; $k; f): first(range($k; -1; -1) | select($c[.] | f | not)) // -1;
# sub("^\\s+"; "") | sub("\\s+$"; ""), in one pass.
def fs_clean:
  if type == "string" then
    (if test("^\\s|\\s$") then
       explode as $c
       | (first(range(0; $c | length) | select($c[.] | fs_is_space | not)) // ($c | length)) as $i
       | fs_last_not($c; ($c | length) - 1; fs_is_space) as $j
       | if $j < $i then "" else $c[$i:$j + 1] | implode end
     else . end)
    | if . == "" then null else . end
  else . end;
# gsub("[^0-9]"; ""): the ASCII digits.
def fs_digits: explode | map(select(. >= 48 and . <= 57)) | implode;
def fs_nonnull: with_entries(select(.value != null));
def fs_country:
  fs_clean
  | if type != "string" then . else
      ({"united states": "US", "united states of america": "US", "usa": "US", "us": "US",
        "u.s.": "US", "u.s.a.": "US", "america": "US", "canada": "CA", "mexico": "MX",
        "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB",
        "ireland": "IE", "australia": "AU", "new zealand": "NZ", "germany": "DE",
        "france": "FR", "spain": "ES", "italy": "IT", "netherlands": "NL"}[ascii_downcase]
       // (if test("^[A-Za-z]{2}$") then ascii_upcase else . end))
    end;
def fs_us_region:
  fs_clean
  | if type != "string" then . else
      ({"alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
        "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
        "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA",
        "kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD",
        "massachusetts": "MA", "michigan": "MI", "minnesota": "MN", "mississippi": "MS",
        "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
        "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
        "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
        "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
        "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
        "virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI",
        "wyoming": "WY", "district of columbia": "DC", "puerto rico": "PR"}[ascii_downcase]
       // (if test("^[A-Za-z]{2}$") then ascii_upcase else . end))
    end;
def fs_zip($country):
  fs_clean
  | if type != "string" or $country != "US" then . else
      fs_digits as $d
      | if ($d | length) == 9 then $d[0:5] + "-" + $d[5:9]
        elif ($d | length) == 5 then $d else . end
    end;
# sub("\\s*(x|ext\\.?|extension)\\s*[0-9]+$"; ""; "i") read from the end: the
# trailing digits, the blanks before them, one of the words (any case; s also
# as U+017F, as Oniguruma folds it), and the blanks before that go.
def fs_strip_extension:
  def low: if . >= 65 and . <= 90 then . + 32 elif . == 383 then 115 else . end;
  def word($c; $e; $w): ($w | explode) as $l
    | ($e - ($l | length) + 1) as $s
    | if $s >= 0 and ([range(0; $l | length) | $c[$s + .] | low] == $l) then $s else null end;
  explode as $c
  | fs_last_not($c; ($c | length) - 1; . >= 48 and . <= 57) as $a
  | fs_last_not($c; $a; fs_is_space) as $b
  | (if $a == ($c | length) - 1 or $b < 0 then null
     else (word($c; $b; "x") // word($c; $b; "ext") // word($c; $b; "ext.") // word($c; $b; "extension")) end) as $s
  | if $s == null then . else $c[0:fs_last_not($c; $s - 1; fs_is_space) + 1] | implode end;
# E.164: "+" and digits; 10 digits are a North American number.  What cannot
# be read as a phone number is kept as it was, so validation names it.
def fs_e164($country):
  fs_clean
  | if type != "string" then . else
      fs_strip_extension as $n
      | ($n | fs_digits) as $d
      | if ($n | startswith("+")) and ($d | length) >= 7 then "+" + $d
        elif ($d | length) == 10 and ($country == null or $country == "US" or $country == "CA") then "+1" + $d
        elif ($d | length) == 11 and ($d | startswith("1")) then "+" + $d
        else . end
    end;
def fs_email: fs_clean | if type == "string" then ascii_downcase else . end;
# Times from exports: "2026-11-30 01:02:03", "2026-11-30", epoch milliseconds.
# A number is read only in the years 1000 to 9999, which todate writes as
# RFC 3339 (outside gmtime's range libjq 1.6 aborts: 7e19 reaches it).
def fs_time:
  if type == "number" then
    if . >= -30610224000000 and . < 253402300800000 then (. / 1000 | floor | todate)
    else error("time \(.) is out of range (epoch milliseconds of the years 1000 to 9999)") end
  else fs_clean
    | if type != "string" then .
      elif test("^[0-9]{13}$") then (tonumber / 1000 | floor | todate)
      elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") then . + "T00:00:00Z"
      elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$") then sub(" "; "T") + "Z"
      else . end
  end;
# Export headers are matched loosely: case, spaces and punctuation do not
# matter ("Last Modified" is last_modified).
# (gsub("[^a-z0-9]+"; "_") | sub("^_"; "") | sub("_$"; ""), in one pass.)
def fs_key:
  ascii_downcase | explode
  | reduce .[] as $x ([]; if ($x >= 97 and $x <= 122) or ($x >= 48 and $x <= 57) then . + [$x]
                         elif length > 0 and .[-1] != 95 then . + [95] else . end)
  | (if length > 0 and .[-1] == 95 then .[:-1] else . end) | implode;
# The first of $names that a row with fs_key'd headers has with a value.
def fs_pick($names): . as $row | first($names[] | $row[.] | select(. != null and . != "")) // null;
# The first of $names (fs_key'd) that the raw row has with a value: {key, value}.
def fs_pick_raw($names): . as $row
  | first($names[] as $n | $row | to_entries[] | select((.key | fs_key) == $n and (.value | fs_clean) != null))
    // null;
def fs_p2: tostring | if length < 2 then "0" + . else . end;
def fs_leap: (. % 4 == 0 and . % 100 != 0) or . % 400 == 0;
def fs_real_date($y; $m; $d):
  $m >= 1 and $m <= 12 and $d >= 1
  and $d <= ([31, (if ($y | fs_leap) then 29 else 28 end), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][$m - 1]);
# A date column of a CRM export ({key, value} from fs_pick_raw, or null), read
# as UTC when it says no zone: RFC 3339 ("2026-03-14T14:05:09Z", with a
# fraction or an offset, kept as it is), ISO "2026-03-14" and
# "2026-03-14 14:05[:09]", epoch milliseconds, and US month-first
# "03/14/2026", "3/4/2026", each with an optional " 14:05", " 14:05:09",
# " 2:05 PM" or " 2:05:09 pm".  A slash date is always month/day/year (CRM
# exports in the US write them so); a two-digit year is not guessed.
# Anything else, or a date that does not exist (02/30/2026), is an error
# naming the column and the value, so the row goes to the dead-letter queue
# with that reason.
def fs_export_time:
  if . == null then null else
  .key as $col | (.value | fs_clean) as $v
  | def bad: error("column \"\($col)\": \"\($v)\" is not a date"
      + " (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)");
    if ($v | type) == "number" or ($v | test("^[0-9]{13}$")) then $v | fs_time
    else (($v | capture("^(?<y>[0-9]{4})-(?<m>[0-9]{2})-(?<d>[0-9]{2})(?<rest>([Tt ].*)?)$"))
          // ($v | capture("^(?<m>[0-9]{1,2})/(?<d>[0-9]{1,2})/(?<y>[0-9]{4})(?<rest>([Tt ].*)?)$"))
          // null) as $c
      | if $c == null then bad else
        ($c.y | tonumber) as $y | ($c.m | tonumber) as $m | ($c.d | tonumber) as $d
        | if fs_real_date($y; $m; $d) | not then bad
          elif $c.rest == "" then "\($y)-\($m | fs_p2)-\($d | fs_p2)T00:00:00Z"
          elif ($v | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"))
          then (if ($v[11:13] | tonumber) > 23 or ($v[14:16] | tonumber) > 59 or ($v[17:19] | tonumber) > 60
                then bad else $v end)
          else (($c.rest | capture("^[Tt ]\\s*(?<h>[0-9]{1,2}):(?<mi>[0-9]{2})(:(?<s>[0-9]{2}))?(\\s*(?<ap>[AaPp][Mm]))?$"))
                  // null) as $t
            | if $t == null then bad else
              ($t.h | tonumber) as $h0 | ($t.ap // "" | ascii_downcase) as $ap
              | (if $ap == "" then $h0 elif $h0 < 1 or $h0 > 12 then 99
                 elif $ap == "am" then $h0 % 12 else $h0 % 12 + 12 end) as $h
              | ($t.mi | tonumber) as $mi | ($t.s // "0" | tonumber) as $s
              | if $h > 23 or $mi > 59 or $s > 59 then bad
                else "\($y)-\($m | fs_p2)-\($d | fs_p2)T\($h | fs_p2):\($mi | fs_p2):\($s | fs_p2)Z" end
            end
          end
        end
    end
  end;

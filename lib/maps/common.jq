# Helpers shared by the shipped maps (included by fs-normalize before each map).
def fs_clean:
  if type == "string" then
    (if test("^\\s|\\s$") then sub("^\\s+"; "") | sub("\\s+$"; "") else . end)
    | if . == "" then null else . end
  else . end;
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
      (gsub("[^0-9]"; "")) as $d
      | if ($d | length) == 9 then $d[0:5] + "-" + $d[5:9]
        elif ($d | length) == 5 then $d else . end
    end;
# E.164: "+" and digits; 10 digits are a North American number.  What cannot
# be read as a phone number is kept as it was, so validation names it.
def fs_e164($country):
  fs_clean
  | if type != "string" then . else
      (sub("\\s*(x|ext\\.?|extension)\\s*[0-9]+$"; ""; "i")) as $n
      | ($n | gsub("[^0-9]"; "")) as $d
      | if ($n | startswith("+")) and ($d | length) >= 7 then "+" + $d
        elif ($d | length) == 10 and ($country == null or $country == "US" or $country == "CA") then "+1" + $d
        elif ($d | length) == 11 and ($d | startswith("1")) then "+" + $d
        else . end
    end;
def fs_email: fs_clean | if type == "string" then ascii_downcase else . end;
# Times from exports: "2026-11-30 01:02:03", "2026-11-30", epoch milliseconds.
def fs_time:
  if type == "number" then (. / 1000 | floor | todate)
  else fs_clean
    | if type != "string" then .
      elif test("^[0-9]{13}$") then (tonumber / 1000 | floor | todate)
      elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") then . + "T00:00:00Z"
      elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$") then sub(" "; "T") + "Z"
      else . end
  end;

# A Google Sheets row (lib/vendors/sheets.c) -> contact.changed, its columns
# matched by name as a CSV export's are (csv-contact.jq): case, spaces and
# punctuation do not matter.  The version is the connector's (a hash of the
# row's previous version and its values), so the same edit polled twice is
# one event; updated_at is the sheet's own modified column when it has one,
# else when fs-pull first saw this version.  A deleted row maps to nothing:
# fs-pull reported it, and nobody is mailed for it.
# reads: ?data.values.* data.version data.seen_at ?data.deleted
if .data.deleted == true then empty else
.data.values as $raw
| ($raw | with_entries(.key |= fs_key)) as $r
| ($r | fs_pick(["country", "country_region"]) | fs_country) as $c0
| ($c0 // (if ($r | fs_pick(["address", "street_address", "address_line_1", "address1", "street", "line1", "city"])) != null
           then ($source.default_country // "US") else null end)) as $country
| (($raw | fs_pick_raw(["updated_at", "last_modified_date", "last_modified", "modified", "updated", "modified_at",
                         "last_updated"]) | if . == null or . == "" then null else fs_export_time end)
   // .data.seen_at) as $updated
| (.data.id | fs_clean) as $id
| {
    kind: "contact.changed",
    object: "contact:\($id)",
    version: .data.version,
    occurred_at: $updated,
    data: ({
      id: $id,
      email: ($r | fs_pick(["email", "email_address", "e_mail"]) | fs_email),
      phone: ($r | fs_pick(["phone", "phone_number", "mobile", "mobile_phone", "telephone"]) | fs_e164($country)),
      first_name: ($r | fs_pick(["first_name", "firstname", "first", "given_name"]) | fs_clean),
      last_name: ($r | fs_pick(["last_name", "lastname", "last", "surname", "family_name"]) | fs_clean),
      company: ($r | fs_pick(["company", "company_name", "organization"]) | fs_clean),
      address: ({
        line1: ($r | fs_pick(["address", "street_address", "address_line_1", "address1", "street", "line1"]) | fs_clean),
        line2: ($r | fs_pick(["address_line_2", "address2", "line2", "unit", "apt"]) | fs_clean),
        city: ($r | fs_pick(["city", "town"]) | fs_clean),
        region: ($r | fs_pick(["state", "region", "province", "state_region"])
                 | if $country == "US" then fs_us_region else fs_clean end),
        postal_code: ($r | fs_pick(["zip", "zip_code", "postal_code", "postcode", "zipcode"]) | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      status: ($r | fs_pick(["status", "lifecycle_stage", "lifecyclestage", "job_status", "stage"]) | fs_clean),
      owner: ($r | fs_pick(["owner", "contact_owner", "owner_id"]) | fs_clean),
      updated_at: $updated
    } | fs_nonnull)
  }
end

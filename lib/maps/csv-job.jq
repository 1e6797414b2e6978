# A CSV export of field-service jobs or work orders (fs-pull --as jobs
# csv:FILE, or a csv source's stream jobs) -> job.changed, one job per row,
# for campaigns on jobs (on = job).  Header names are matched loosely, as
# for contacts: the job's id (job_id, job_number, work_order, id), its
# contact (contact_id, customer_id, client_id), status, type, completed_at,
# total, currency, tags (comma-separated) and an address of its own (the
# piece goes to the contact's stored address when it has none).
#
# The version is the row's modified date, else its completion date, else
# its creation date, read as fs_export_time (common.jq) reads it: RFC 3339,
# ISO, epoch milliseconds or US month-first, as UTC; anything else sends the
# row to the dead-letter queue naming the column.  A completion date or a
# total that cannot be read is kept as it is, and validation moves it to
# data.invalid.
# reads: ?data.*
.data as $raw
| ($raw | with_entries(.key |= fs_key)) as $r
| ($r | fs_pick(["country", "country_region"]) | fs_country) as $c0
| ($c0 // (if ($r | fs_pick(["address", "street_address", "address_line_1", "address1", "street", "line1", "city"])) != null
           then ($source.default_country // "US") else null end)) as $country
| ($raw | fs_pick_raw(["completed_at", "completed", "date_completed", "completion_date", "completed_date",
                       "finished_at"])) as $done
| (($raw | fs_pick_raw(["updated_at", "last_modified_date", "lastmodifieddate", "last_modified", "modified",
                        "updated", "modified_at", "last_updated"]))
   // $done // ($raw | fs_pick_raw(["created_at", "created", "date_created", "date"])) | fs_export_time) as $version
| ($r | fs_pick(["job_id", "job_number", "job", "work_order", "work_order_id", "id"]) | fs_clean) as $id
| {
    kind: "job.changed",
    object: "job:\($id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: $id,
      contact_id: ($r | fs_pick(["contact_id", "customer_id", "client_id", "contact", "customer", "client"]) | fs_clean),
      status: ($r | fs_pick(["status", "job_status", "stage"]) | fs_clean),
      type: ($r | fs_pick(["type", "job_type", "service", "service_type", "category"]) | fs_clean),
      completed_at: (if $done == null then null else ($done | try fs_export_time catch ($done.value | fs_clean)) end),
      total: ($r | fs_pick(["total", "amount", "invoice_total", "job_total", "price"]) | fs_clean
              | if type == "string" then (gsub("[$,]"; "") | tonumber? // .) else . end),
      currency: ($r | fs_pick(["currency", "currency_code"]) | fs_clean),
      address: ({
        line1: ($r | fs_pick(["address", "street_address", "address_line_1", "address1", "street", "line1"]) | fs_clean),
        line2: ($r | fs_pick(["address_line_2", "address2", "line2", "unit", "apt"]) | fs_clean),
        city: ($r | fs_pick(["city", "town"]) | fs_clean),
        region: ($r | fs_pick(["state", "region", "province", "state_region"])
                 | if $country == "US" then fs_us_region else fs_clean end),
        postal_code: ($r | fs_pick(["zip", "zip_code", "postal_code", "postcode", "zipcode"]) | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      tags: ($r | fs_pick(["tags", "tag", "labels"]) | fs_clean
             | if type == "string" then [split(",")[] | fs_clean | select(. != null)] | if . == [] then null else . end
               else null end),
      updated_at: $version
    } | fs_nonnull)
  }

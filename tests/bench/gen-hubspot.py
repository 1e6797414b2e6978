#!/usr/bin/env python3
"""Writes N HubSpot-shaped contact records (fs-pull's "record" lines) to stdout.

Deterministic (a fixed seed), so two runs time the same input.  The mix is
what a real portal holds: 15 to 20 properties, phones in every format people
type, countries as free text ("United States", "USA", "us", "Canada", ...),
state names and codes, blanks and nulls, some unmapped properties (drift),
and about one contact in eight at a lifecycle stage that fires a campaign.
usage: gen-hubspot.py N
"""
import json
import random
import sys

FIRST = ["Ann", "Bob", "Carla", "Dmitri", "Émile", "Fatima", "George", "Hana", "Ivan", "José",
         "Kim", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Søren", "Tariq"]
LAST = ["Lee", "Ray", "García", "Nguyen", "Smith", "Johnson", "O'Brien", "Müller", "Khan", "Rossi",
        "Brown", "Davis", "Wilson", "Martínez", "Taylor", "Anderson", "Thomas", "Moore"]
STREETS = ["Main St", "High St", "Elm St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Lake Blvd"]
CITIES = [("Austin", "Texas", "787"), ("Denver", "CO", "802"), ("Portland", "Oregon", "972"),
          ("Miami", "florida", "331"), ("Boston", "Massachusetts", "021"), ("Reno", "NV", "895"),
          ("Albany", "New York", "122"), ("Raleigh", "North Carolina", "276"),
          ("Phoenix", "arizona", "850"), ("Seattle", "WA", "981")]
US = ["United States", "USA", "us", "US", "U.S.", "united states of america", " United States "]
OTHER = [("Canada", "Toronto", "Ontario", "M5V 2T6", "+1 416 555 0199"),
         ("uk", "London", None, "SW1A 1AA", "+44 20 7946 0958"),
         ("Germany", "Berlin", "Berlin", "10115", "+49 30 123456"),
         ("Mexico", "Monterrey", "NL", "64000", "+52 81 1234 5678"),
         ("Narnia", "Cair Paravel", None, "00000", "+1 416 555 0100")]
STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer", "job_completed", "evangelist"]
DOMAINS = ["example.com", "Example.COM", "mail.example.org", "gmail.com", "acme.io"]


def phone(r):
    a, b, c = r.randint(200, 989), r.randint(200, 999), r.randint(0, 9999)
    return r.choice([
        f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
        f"1{a}{b}{c:04d}", f"{a}{b}{c:04d}", f"({a}) {b}-{c:04d} ext. 12", f"+1-{a}-{b}-{c:04d}",
        f" {a} {b} {c:04d} ", ""] + ["555-0100"] * (r.random() < 0.02))


def stamp(r, t):
    d, s = divmod(t, 86400)
    y, m, dd = 2026, 1 + d // 28 % 12, 1 + d % 28
    return f"{y}-{m:02d}-{dd:02d}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{r.randint(0, 999):03d}Z"


def record(r, i):
    first, last = r.choice(FIRST), r.choice(LAST)
    created = r.randint(0, 86400 * 200)
    p = {
        "hs_object_id": str(i),
        "email": f"{first}.{last}{i}@{r.choice(DOMAINS)}".replace("'", "") if r.random() > 0.05 else None,
        "firstname": first if r.random() > 0.02 else "",
        "lastname": last,
        "phone": phone(r) if r.random() > 0.1 else None,
        "company": r.choice([None, "", f"{last} & Sons", "Acme Plumbing", "  Bright HVAC  "]),
        "lifecyclestage": r.choices(STAGES, [10, 25, 10, 10, 10, 15, 12, 8])[0],
        "hubspot_owner_id": str(r.randint(1, 40)) if r.random() > 0.2 else None,
        "createdate": stamp(r, created),
    }
    if r.random() < 0.85:
        city, state, zip3 = r.choice(CITIES)
        p.update(address=f"{r.randint(1, 9999)} {r.choice(STREETS)}", city=city, state=state,
                 zip=r.choice([f"{zip3}{r.randint(0, 99):02d}", f"{zip3}{r.randint(0, 99):02d}-{r.randint(0, 9999):04d}"]),
                 country=r.choice(US) if r.random() > 0.1 else None)
    else:
        country, city, state, zip_, ph = r.choices(OTHER, [30, 30, 20, 15, 5])[0]
        p.update(address=f"{r.randint(1, 300)} {r.choice(STREETS)}", city=city, state=state,
                 zip=zip_, country=country)
        if p["phone"] is not None:
            p["phone"] = ph
    if r.random() < 0.3:
        p["address2"] = r.choice(["Apt 2", "Suite 100", "", None])
    if r.random() < 0.2:
        p["jobtitle"] = r.choice(["Owner", "Office manager", "Homeowner"])
    p["lastmodifieddate"] = stamp(r, created + r.randint(0, 86400 * 100))
    p["hs_lastmodifieddate"] = p["lastmodifieddate"]
    data = {"id": str(i), "properties": p, "createdAt": p["createdate"],
            "updatedAt": p["lastmodifieddate"], "archived": False}
    return {"type": "record", "source": "hubspot", "stream": "contacts", "key": str(i),
            "fetched_at": "2026-11-30T00:59:00Z", "data": data}


def main():
    n = int(sys.argv[1])
    r = random.Random(2)
    out = sys.stdout
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for i in range(1, n + 1):
        out.write(enc(record(r, 1000 + i)))
        out.write("\n")
        if i % 100000 == 0:
            out.write('{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"%d"}\n' % (1000 + i))


if __name__ == "__main__":
    main()

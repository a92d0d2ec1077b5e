-- dirbs_core_policy.lua — the core DIRBS rules and nothing else, for bench/classify_bench.sh:
-- the same decisions its DuckDB peer (bench/classify_duckdb.js) computes in SQL, so the
-- two are timed on the same work. Every rule blocks at once (no notice period, no
-- exemption), which keeps the SQL a plain statement of each rule:
--   malformed_identifier  not an equipment identity (3GPP TS 23.003 §6.2)
--   wrong_check_digit     a 15-digit IMEI whose 15th digit is neither the Luhn check digit
--                         (TS 23.003 Annex B) nor a spare 0
--   gsma_not_found        an IMEI whose TAC is not in the TAC database
--   stolen                on the stolen list (stolen.csv)
--   not_registered        an IMEI not on the registration list (registration.csv)
--   duplicate_imsis       an IMEI seen with 10 or more IMSIs within 120 days

local P = policy.new { name = "dirbs-core", version = "1",
                       description = "bench: malformed/Luhn, unknown TAC, stolen, unregistered, >= 10 IMSIs" }

P:condition { name = "malformed_identifier", status = "BLACKLISTED", max_ratio = 1,
  reason = "not a valid equipment identity (3GPP TS 23.003 6.2)",
  when = function(d) return not d.parsed end }

P:condition { name = "wrong_check_digit", status = "BLACKLISTED", max_ratio = 1,
  reason = "15th digit is not the Luhn check digit (3GPP TS 23.003 Annex B)",
  when = function(d) return d.cd_ok == false and not d.spare end }

P:condition { name = "gsma_not_found", status = "BLACKLISTED", max_ratio = 1,
  reason = "TAC not in the TAC database",
  when = function(d) return d.imei_kind and d.known_tac == false end }

P:condition { name = "stolen", status = "BLACKLISTED", max_ratio = 1,
  reason = "reported stolen or lost",
  when = function(d) return d.imei_kind and lists.stolen:has(d.key) end }

P:condition { name = "not_registered", status = "BLACKLISTED", max_ratio = 1,
  reason = "not registered with the regulator",
  when = function(d) return d.imei_kind and not lists.registration:has(d.key) end }

P:condition { name = "duplicate_imsis", status = "BLACKLISTED", max_ratio = 1,
  reason = "used with 10 or more SIMs within 120 days (cloned IMEI)",
  when = function(d) return d.imei_kind and sightings.imsis(d.key, 120) >= 10 end }

P:requires_list("stolen", { min_rows = 1 })
P:requires_list("registration", { min_rows = 1 })

local phone = { brand = "Example", model = "Phone 1", device_type = "Smartphone" }
local registered = { registration = { "490154203237518" } }
P:example { pei = "490154203237518", device = phone, lists = registered, expect = "WHITELISTED" }
P:example { pei = "490154203237519", device = phone, lists = registered, expect = "BLACKLISTED",
            reasons = { "wrong_check_digit" } }
P:example { pei = "490154203237518", lists = registered, expect = "BLACKLISTED", reasons = { "gsma_not_found" } }
P:example { pei = "490154203237518", device = phone, expect = "BLACKLISTED", reasons = { "not_registered" } }
P:example { pei = "4901542032375", expect = "BLACKLISTED", reasons = { "malformed_identifier" } }

return P

-- baseline.lua — the 3GPP / GSMA baseline every country policy starts from.
--
-- What it decides, in the order written (resolve = "worst": the most severe status wins):
--   allow_listed           on the allow (golden) list: whitelisted, nothing else is asked
--   malformed_identifier   not an equipment identity at all (TS 23.003 §6.2)
--   not_an_imei            a 3GPP2 MEID or ESN: the EIR cannot judge it
--   junk_imei              a well-known fake: all zeros, one repeated digit, a run such as
--                          123456789012347, an emulator's default (358240051111110)
--   test_imei              a test IMEI range (reporting body 00, 02-09; GSMA TS.06)
--   wrong_check_digit      reported only: the network identifies a device by its first
--                          14 digits and ignores the 15th (TS 29.272 §6.2.1.3)
--   gsma_not_found         the TAC is not allocated: blocked after a delay that depends
--                          on the reporting body, as DIRBS does (days)
--   stolen                 on the block (stolen/lost) list
--   barred_tac             the TAC is on the barred TAC list
--   monitored              on the monitoring list: greylisted (tracking)
--
-- Lists it reads (CSV files in the --lists folder, DIRBS column names):
--   golden.csv (imei), stolen.csv (imei,reporting_date,status),
--   barred_tac.csv (tac), monitoring.csv (imei)

local P = policy.new { name = "baseline", version = "2026-11",
                       description = "3GPP/GSMA baseline: malformed, junk, test and unknown equipment, block list" }

P:condition { name = "allow_listed", status = "WHITELISTED", final = true,
  reason = "on the allow list",
  when = function(d) return d.key ~= nil and lists.golden:has(d.key) end }

P:condition { name = "malformed_identifier", status = "BLACKLISTED",
  reason = "not a valid equipment identity (3GPP TS 23.003 6.2)",
  -- the parser's own message says what and where (the position of the bad character)
  detail = function(d) return d.error end,
  when = function(d) return not d.parsed end }

P:condition { name = "not_an_imei", status = "UNKNOWN",
  reason = "a 3GPP2 MEID or ESN, not an IMEI",
  when = function(d) return d.parsed and not d.imei_kind end }

P:condition { name = "junk_imei", status = "BLACKLISTED",
  reason = "a well-known fake IMEI",
  when = function(d) return d.junk ~= nil end }

P:condition { name = "test_imei", status = "BLACKLISTED",
  reason = "a test IMEI range (GSMA TS.06 reporting body 00, 02-09)",
  when = function(d) return d.test == true and d.junk == nil end }

P:condition { name = "wrong_check_digit", status = "GREYLISTED", blocking = false,
  reason = "15th digit is not the Luhn check digit (ignored: TS 29.272 6.2.1.3)",
  when = function(d) return d.cd_ok == false and not d.spare end }

-- DIRBS's per reporting body delays before an unallocated TAC is blocked (days).
P:condition { name = "gsma_not_found", status = "BLACKLISTED",
  reason = "TAC not allocated by the GSMA",
  grace_days = policy.by_rbi { ["00"] = 32, ["01"] = 40, ["35"] = 20, ["86"] = 19, ["91"] = 20,
                               ["99"] = 69, default = 30 },
  -- known_tac is nil when no TAC database is loaded: then nothing can be said
  when = function(d) return d.imei_kind and d.known_tac == false and not d.junk and not d.test end }

P:condition { name = "stolen", status = "BLACKLISTED", sticky = true,
  reason = "reported stolen or lost",
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }

P:condition { name = "barred_tac", status = "BLACKLISTED",
  reason = "the device type (TAC) is barred",
  when = function(d) return d.key ~= nil and lists.barred_tac:has(d.key) end }

P:condition { name = "monitored", status = "GREYLISTED",
  reason = "on the monitoring list",
  when = function(d) return d.key ~= nil and lists.monitoring:has(d.key) end }

-- The lists: stolen.csv must be there and hold rows (a missing or empty block list would
-- let every stolen device through); the others are optional, but checked when present.
P:requires_list("stolen", { min_rows = 1 })
P:requires_list("golden", { optional = true })
P:requires_list("barred_tac", { optional = true })
P:requires_list("monitoring", { optional = true })

-- Self-tests: run on every load and reload; each sees only the lists and device it names.
local phone = { brand = "Example", model = "Phone 1", device_type = "Smartphone" }

P:example { pei = "imei-490154203237518", device = phone, expect = "WHITELISTED",
            note = "a valid IMEI of an allocated TAC" }
P:example { pei = "49015420323751", device = phone, expect = "WHITELISTED",
            note = "14 digits: the check digit is not transmitted (TS 23.003 6.2.1)" }
P:example { pei = "490154203237510", device = phone, expect = "WHITELISTED",
            note = "a spare 0 in place of the check digit is normal" }
P:example { pei = "490154203237519", device = phone, expect = "WHITELISTED", reasons = { "wrong_check_digit" },
            note = "a wrong check digit is reported, not blocked" }
P:example { pei = "4901542032375", expect = "BLACKLISTED", reasons = { "malformed_identifier" } }
P:example { pei = "A0000000002329", expect = "UNKNOWN", reasons = { "not_an_imei" } }
P:example { pei = "000000000000000", expect = "BLACKLISTED", reasons = { "junk_imei" } }
P:example { pei = "358240051111110", device = phone, expect = "BLACKLISTED", reasons = { "junk_imei" },
            note = "the Android emulator's default IMEI" }
P:example { pei = "001012345678903", expect = "BLACKLISTED", reasons = { "test_imei" } }
P:example { pei = "352099001761481", expect = "GREYLISTED", reasons = { "gsma_not_found" },
            block_date = "2026-01-21", notify = true,
            note = "unknown TAC of reporting body 35: 20 days' notice from the request (2026-01-01)" }
P:example { pei = "352099001761481", device = phone, lists = { stolen = { "352099001761481" } },
            expect = "BLACKLISTED", reasons = { "stolen" } }
P:example { pei = "352099001761481", device = phone, lists = { barred_tac = { "35209900" } },
            expect = "BLACKLISTED", reasons = { "barred_tac" } }
P:example { pei = "352099001761481", device = phone, lists = { monitoring = { "35209900176148" } },
            expect = "GREYLISTED", reasons = { "monitored" } }
P:example { pei = "352099001761481", lists = { golden = { "352099001761481" }, stolen = { "352099001761481" } },
            expect = "WHITELISTED", reasons = { "allow_listed" }, note = "the allow list wins" }

return P

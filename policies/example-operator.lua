-- example-operator.lua — one operator's overrides on top of the country policy.
--   * a shorter notice for cloned IMEIs on this network (the regulator allows it)
--   * the SIM-farm report is not wanted here
--   * the operator's own lab devices (test IMSIs 410-01-999…) are always allowed

local P = policy.extend("example-country.lua", { name = "example-operator", version = "2026-11.1" })

P:override { name = "duplicate_imsis", grace_days = 15 }

P:disable("transient_imei", "reported by the regulator's own replay instead")

P:condition { name = "operator_lab", status = "WHITELISTED", final = true,
  reason = "the operator's lab SIM",
  when = function(_, r) return r.imsi ~= nil and r.imsi:find("^41001999") ~= nil end }

P:example { pei = "000000000000000", imsi = "410019990000001", expect = "WHITELISTED", reasons = { "operator_lab" },
            note = "lab devices often carry junk IMEIs: the lab SIM decides" }
P:example { pei = "352099001761481", imsi = "410019990000001", operator = "410-01",
            expect = "WHITELISTED", reasons = { "operator_lab" },
            note = "a lab SIM with an unknown, unregistered device" }

local clones = {}
for i = 1, 12 do clones[i] = { imsi = ("4100100000000%02d"):format(i), days_ago = 20 - i } end
P:example { pei = "352099001761481", imsi = "410010000000005", operator = "410-01",
            device = { brand = "Example", model = "Phone 1", device_type = "Smartphone" },
            lists = { registration = { "352099001761481" } }, sightings = clones,
            expect = "GREYLISTED", reasons = { "duplicate_imsis" }, block_date = "2026-01-06",
            note = "15 days' notice here: the 10th SIM came on 2025-12-22" }

return P

-- example-country.lua — a national CEIR policy, modelled on published practice
-- (Pakistan's DIRBS, with the registration windows of Bangladesh and Nigeria).
-- It extends the 3GPP/GSMA baseline (baseline.lua) and adds:
--   not_on_registration_list  devices must be registered; an unregistered one is notified
--                             and blocked 60 days later (modems and IoT modules exempt)
--   duplicate_imsis           a cloned IMEI: 10 or more SIMs within 120 days. The paired
--                             subscriber (pairing list) or the first one seen keeps service;
--                             the others are notified, then blocked after 30 days
--   duplicate_daily_avg       a cloned IMEI: 4 or more SIMs a day on average, over 5 days
--                             seen or more within 30 days
--   transient_imei            reported only: one IMEI moving across 5 or more SIMs whose
--                             numbers go up in steps (a SIM box or a reseller's bench)
-- Roamers (a foreign MCC in the request's operator) are exempt from the national rules.
-- National locks: an operator policy that extends this one cannot disable or override
-- `stolen` and `not_on_registration_list` (locked = true), and this policy's examples run
-- against it too (national = true).
--
-- Lists (CSV, DIRBS column names): registration.csv (approved_imei,make,model,status),
-- pairing.csv (imei,imsi,msisdn), plus the baseline's golden, stolen, barred_tac, monitoring.

local HOME_MCC = "410"           -- the country's mobile country code
local REGISTRATION_GRACE = 60    -- days between notification and block
local DUPLICATE_SIMS = 10        -- distinct IMSIs that make an IMEI a clone ...
local DUPLICATE_WINDOW = 120     -- ... within this many days
local DUPLICATE_GRACE = 30
local EXEMPT_TYPES = { Modem = true, ["IoT Device"] = true, Module = true, Dongle = true }

local P = policy.extend("baseline.lua", { name = "example-country", version = "2026-11", national = true })

P:override { name = "stolen", locked = true }

-- An unless may return a second value, a short label that `imei explain` shows as the
-- reason of the exemption (docs/explain.md).
local function roaming(r)
  if r.operator ~= nil and r.operator:sub(1, 3) ~= HOME_MCC then return true, "roamer" end
  return false
end

P:override { name = "gsma_not_found",
  unless = function(_, r) return roaming(r) end }

P:condition { name = "not_on_registration_list", status = "BLACKLISTED", locked = true,
  grace_days = REGISTRATION_GRACE,
  reason = "not registered with the regulator",
  when = function(d) return d.imei_kind and d.known_tac ~= false and not lists.registration:has(d.key) end,
  unless = function(d, r)
    if roaming(r) then return true, "roamer" end
    if d.device ~= nil and EXEMPT_TYPES[d.device.device_type] == true then return true, "modem" end
    return false
  end }

-- Cloned IMEIs (DIRBS duplicate_threshold, duplicate_daily_avg): the paired subscriber,
-- or the first one seen, keeps service; the notice counts from the day the threshold
-- was crossed.
local function exempt(d, r)
  if roaming(r) then return true, "roamer" end
  return policy.keeps_service(d, r)
end

P:condition(policy.duplicate_threshold { name = "duplicate_imsis",
  imsis = DUPLICATE_SIMS, days = DUPLICATE_WINDOW, grace_days = DUPLICATE_GRACE, unless = exempt })

P:condition(policy.duplicate_daily_avg { name = "duplicate_daily_avg",
  average = 4, days = 30, min_days = 5, grace_days = DUPLICATE_GRACE, unless = exempt })

P:condition(policy.transient_imei { name = "transient_imei", msisdns = 5, days = 7, blocking = false })

-- Self-tests.
local phone = { brand = "Example", model = "Phone 1", device_type = "Smartphone" }
local modem = { brand = "Example", model = "Modem 1", device_type = "Modem" }
local registered = { registration = { "352099001761481" } }

P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = phone,
            lists = registered, expect = "WHITELISTED", note = "a registered phone" }
P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = phone,
            expect = "GREYLISTED", reasons = { "not_on_registration_list" }, notify = true,
            block_date = "2026-03-02", note = "unregistered: 60 days' notice" }
P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = modem,
            expect = "WHITELISTED", note = "modems are exempt from registration" }
P:example { pei = "352099001761481", imsi = "234150000000001", operator = "234-15", device = phone,
            expect = "WHITELISTED", note = "a roamer is exempt" }

local clones = {}
for i = 1, 12 do
  clones[i] = { imsi = ("4100100000000%02d"):format(i), msisdn = ("92300%07d"):format(i * 7919), days_ago = 20 - i }
end
P:example { pei = "352099001761481", imsi = "410010000000005", operator = "410-01", device = phone,
            lists = registered, sightings = clones,
            expect = "GREYLISTED", reasons = { "duplicate_imsis" }, notify = true, block_date = "2026-01-21",
            note = "a cloned IMEI on a later SIM: notified; the 10th SIM came 10 days ago, 30 days' notice" }
P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = phone,
            lists = registered, sightings = clones, expect = "WHITELISTED",
            note = "the first SIM seen keeps service" }
P:example { pei = "352099001761481", imsi = "410010000000007", operator = "410-01", device = phone,
            lists = { registration = { "352099001761481" }, pairing = { { "352099001761481", "410010000000007" } } },
            sightings = clones, expect = "WHITELISTED", note = "the paired SIM keeps service" }
P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = phone,
            lists = { registration = { "352099001761481" }, pairing = { { "352099001761481", "410010000000007" } } },
            sightings = clones, expect = "GREYLISTED", reasons = { "duplicate_imsis" },
            note = "once the device is paired with another SIM, the first SIM seen has no claim" }

local busy = {}
for day = 1, 6 do
  for sim = 1, 5 do busy[#busy + 1] = { imsi = ("41001000000%02d%02d"):format(day, sim), days_ago = day } end
end
P:example { pei = "352099001761481", imsi = "410010000009999", operator = "410-01", device = phone,
            lists = registered, sightings = busy, expect = "GREYLISTED",
            reasons = { "duplicate_imsis", "duplicate_daily_avg" }, notify = true,
            note = "5 new SIMs a day for 6 days" }
local farm = {}
for i = 1, 5 do
  farm[i] = { imsi = "41001000000000" .. i, msisdn = tostring(923001000000 + 7 * i), operator = "410-01", days_ago = i }
end
P:example { pei = "352099001761481", imsi = "410010000000001", operator = "410-01", device = phone,
            lists = registered, sightings = farm, expect = "WHITELISTED", reasons = { "transient_imei" },
            note = "five numbers 7 apart: reported, not blocked" }

return P

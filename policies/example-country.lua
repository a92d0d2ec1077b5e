-- example-country.lua — a national CEIR policy, modelled on published practice
-- (Pakistan's DIRBS, with the registration windows of Bangladesh and Nigeria).
-- It extends the 3GPP/GSMA baseline (baseline.lua) and adds:
--   not_on_registration_list  devices must be registered; an unregistered one is notified
--                             and blocked 60 days later (modems and IoT modules exempt)
--   duplicate_imsis           a cloned IMEI: 10 or more SIMs within 120 days. The paired
--                             subscriber (pairing list) or the first one seen keeps service;
--                             the others are notified, then blocked after 30 days
--   transient_imei            reported only: one IMEI moving across SIMs whose numbers
--                             go up in steps (a SIM farm or a reseller's test bench)
-- Roamers (a foreign MCC in the request's operator) are exempt from the national rules.
--
-- Lists (CSV, DIRBS column names): registration.csv (approved_imei,make,model,status),
-- pairing.csv (imei,imsi,msisdn), plus the baseline's golden, stolen, barred_tac, monitoring.

local HOME_MCC = "410"           -- the country's mobile country code
local REGISTRATION_GRACE = 60    -- days between notification and block
local DUPLICATE_SIMS = 10        -- distinct IMSIs that make an IMEI a clone ...
local DUPLICATE_WINDOW = 120     -- ... within this many days
local DUPLICATE_GRACE = 30
local EXEMPT_TYPES = { Modem = true, ["IoT Device"] = true, Module = true, Dongle = true }

local P = policy.extend("baseline.lua", { name = "example-country", version = "2026-11" })

local function roaming(r)
  return r.operator ~= nil and r.operator:sub(1, 3) ~= HOME_MCC
end

local function keeps_service(d, r)
  -- DIRBS pairing: the registered subscriber, else the first one seen, keeps service
  if r.imsi == nil then return false end
  return lists.pairing:has(d.key, r.imsi) or sightings.is_paired(d.key, r.imsi)
      or sightings.first_imsi(d.key) == r.imsi
end

P:override { name = "gsma_not_found",
  unless = function(_, r) return roaming(r) end }

P:condition { name = "not_on_registration_list", status = "BLACKLISTED",
  grace_days = REGISTRATION_GRACE,
  reason = "not registered with the regulator",
  when = function(d) return d.imei_kind and d.known_tac ~= false and not lists.registration:has(d.key) end,
  unless = function(d, r) return roaming(r) or (d.device ~= nil and EXEMPT_TYPES[d.device.device_type] == true) end }

P:condition { name = "duplicate_imsis", status = "BLACKLISTED",
  grace_days = DUPLICATE_GRACE,
  reason = ("used with %d or more SIMs within %d days (cloned IMEI)"):format(DUPLICATE_SIMS, DUPLICATE_WINDOW),
  -- the notice counts from the day the threshold was crossed
  since = function(d) return sightings.nth_imsi_seen(d.key, DUPLICATE_SIMS, DUPLICATE_WINDOW) end,
  when = function(d) return d.key ~= nil and sightings.imsis(d.key, DUPLICATE_WINDOW) >= DUPLICATE_SIMS end,
  unless = function(d, r) return roaming(r) or keeps_service(d, r) end }

P:condition { name = "transient_imei", status = "GREYLISTED", blocking = false,
  reason = "seen with many MSISDNs in a short time",
  when = function(d) return d.key ~= nil and sightings.msisdns(d.key, 7) >= 5 end }

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

return P

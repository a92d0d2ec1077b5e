--- imei.sightings — the sightings store: who used a device identity, when, and who owns it.
--
--   local sightings = require "imei.sightings"       -- or imei.sightings
--   local store = assert(sightings.open("lmdb:/var/lib/imei/sightings"))
--   store:record { key = "35-209900-176148-1", imsi = "410011234567890", msisdn = "923001234567",
--                  operator = "410-01", rat = "EUTRAN", time = os.time() }
--   store:flush()                                   -- acknowledged: durable from here on
--   store:imsis("352099001761481", 120)              --> distinct IMSIs in the last 120 days
--
-- The store itself is C (core/sightings*.c, bound in binding/lua_sightings.c); see
-- docs/sightings.md for the model, the backends, durability and the thread model.
local core = require "imei.core"

local sightings = {}

--- Open a store: "memory" or "lmdb:PATH" (a directory, created when missing).
-- opts: map_size (bytes, LMDB), batch (sightings per automatic commit, LMDB),
-- capacity (aggregates to make room for, memory), read_only (boolean).
-- Returns the store, or nil and a message.
function sightings.open(spec, opts)
  return core.sightings_open(spec, opts)
end

--- The RAT names a store reports (TS 29.274 §8.17 RAT Type 1..10, in that order).
sightings.RATS = { "UTRAN", "GERAN", "WLAN", "GAN", "HSPA", "EUTRAN", "VIRTUAL", "NB-IOT", "LTE-M", "NR" }

--- Days of per-day history an aggregate keeps: daily() is exact for windows up to this.
sightings.HORIZON_DAYS = 64

--- The UTC day number of a time in seconds (what daily() reports as `day`).
function sightings.day(t)
  return t // 86400
end

return sightings

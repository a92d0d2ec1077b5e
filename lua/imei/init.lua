--- imei — the public Lua module.
--
--   local imei = require "imei"
--   imei.parse("35-209900-176148-1")  --> { kind = "imei", key = "35209900176148", … }
--
-- Identifier functions come straight from the C core (imei.core); the larger parts
-- (tacdb, engine, sightings, …) are loaded on first use, so `require "imei"` stays cheap.
local core = require "imei.core"

local imei = {
  _VERSION = "imei scm",
  parse = core.parse,
  valid = core.valid,
  luhn = core.luhn,
  check_digit = core.check_digit,
  meid_check_digit = core.meid_check_digit,
  decode_mobile_identity = core.decode_mobile_identity,
  encode_mobile_identity = core.encode_mobile_identity,
  validate_lines = core.validate_lines,
  validate_file = core.validate_file,
}

local submodules = {
  tacdb = "imei.tacdb",
  engine = "imei.engine",
  sightings = "imei.sightings",
}

return setmetatable(imei, {
  __index = function(t, name)
    local module = submodules[name]
    if module == nil then return nil end
    local loaded = require(module)
    rawset(t, name, loaded)
    return loaded
  end,
})

-- sandbox_unhooked_spec.lua — the runtime's own stretch of a check runs without the count
-- hook (host/sandbox.c, imei_sandbox_unhook; lua/imei/policy/runtime.lua, inst.check): nothing a policy
-- reaches may run there. Each hostile policy is checked through `imei check` in a process
-- of its own under `timeout`, so that a hang fails the spec instead of hanging the suite:
-- its conditions reach the device record's hidden keys (pairs(d)) and change what they
-- hold, put hostile metatables on them, on the TAC record, on values they return, reach
-- for the strings' metatable, and evaluate the policy themselves with a hostile context.
local support = require "support"

local OSMOCOM = "data/osmocom-tacdb.csv"

-- `imei check` of pei with the policy; stdout, exit code (124: timed out).
local function check(dir, body, pei)
  local path = support.policy(dir, "p.lua", ([[
    local P = policy.new { name = "h", version = "1" }
    local function spin() while true do end end
    local HOSTILE = { __index = spin, __newindex = spin, __eq = spin, __lt = spin, __le = spin, __len = spin,
                      __concat = spin, __call = spin, __tostring = spin, __close = spin, __pairs = spin }
    P:condition { name = "hostile", status = "BLACKLISTED",
      when = function(d, r) %s return false end }
    P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
    return P
  ]]):format(body))
  local out = dir .. "/out"
  local cmd = ("timeout 30 bin/imei check --policy '%s' --tacdb %s '%s' >'%s' 2>&1"):format(path, OSMOCOM, pei, out)
  local _, _, code = os.execute(cmd)
  return support.read(out) or "", code
end

describe("a check's unhooked stretch", function()
  after_each(support.cleanup)

  local attacks = {
    { "hidden keys of d set to hostile tables",
      "for k in pairs(d) do if type(k) == 'table' then d[k] = setmetatable({}, HOSTILE) end end local _ = d.tac" },
    { "hidden keys of d given hostile metatables",
      "for k in pairs(d) do if type(k) == 'table' then setmetatable(k, HOSTILE) end end local _ = d.device" },
    { "hidden keys of d set to out-of-range numbers",
      "for k in pairs(d) do if type(k) == 'table' then d[k] = -1 end end local _ = d.device" },
    { "the TAC record given a hostile metatable", "if d.device then setmetatable(d.device, HOSTILE) end" },
    { "the strings' metatable", "local m = getmetatable('') if type(m) == 'table' then m.__index = spin end" },
    { "the request given a hostile metatable and time", "setmetatable(r, HOSTILE) r.time = setmetatable({}, HOSTILE)" },
    { "its own evaluate with a hostile context",
      "P:evaluate(d, r, setmetatable({ protect = spin, first_seen = spin }, HOSTILE))" },
    { "a suspended coroutine left behind",
      "local co = coroutine.wrap(function() while true do coroutine.yield() end end) co()" },
  }
  for _, attack in ipairs(attacks) do
    it("contains " .. attack[1], function()
      local dir = support.tmpdir()
      -- a known TAC (the record is read), then a junk IMEI: both decided, in bounded time
      local out, code = check(dir, attack[2], "352099001761481")
      assert.not_equal(124, code)
      assert.matches("WHITELISTED", out, 1, true)
      out, code = check(dir, attack[2], "000000000000000")
      assert.not_equal(124, code)
      assert.matches("BLACKLISTED", out, 1, true)
      assert.matches("junk", out, 1, true)
    end)
  end
end)

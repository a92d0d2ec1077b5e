--- tests/fuzz/policy_fuzz.lua — the policy fuzzer (docs/sandbox.md): hostile snippets, from
-- the corpus in tests/fuzz/policy_corpus/ and generated (every library function a policy
-- can reach, called with extreme arguments and objects whose metamethods lie), run inside
-- a policy's condition at check time and at the top of a policy file at load time. For
-- each one: the run must end, within a loose bound of its deadline (the bound catches a
-- run that was not cut at all; its deadline is tens of milliseconds), and the next good
-- check must find the stolen device BLACKLISTED.
--
--   lua5.4 tests/fuzz/policy_fuzz.lua [SECONDS [SEED]]   -- long run (make fuzz)
--   require-able: run { generated = N, load_every = K, seed = S, corpus = true } → problems, runs
local imei = require "imei"

local M = {}

local STOLEN = "490154203237518"
local CHECK_BOUND, LOAD_BOUND = 5.0, 10.0 -- wall seconds; the limits are 0.05 s and 2 s of CPU

local function wall()
  local p = io.popen("date +%s.%N")
  local s = p:read("a")
  p:close()
  return tonumber(s)
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/policy_fuzz.XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

-- Objects with lying metamethods, defined at the top of every snippet.
local PRELUDE = [[
local BIG, HUGE = 1 << 40, math.maxinteger
local LIAR = setmetatable({}, {
  __len = function() return BIG end, __index = function(_, k) return k end, __newindex = function() end,
  __lt = function() return true end, __le = function() return false end, __eq = function() return true end,
  __concat = function() return ("c"):rep(1 << 16) end, __tostring = function() return ("t"):rep(1 << 16) end,
  __call = function(...) return ... end, __unm = function(a) return a end, __close = function() end,
})
local FLIP = 0
local FLIPPER = setmetatable({}, { __len = function() FLIP = FLIP + 1 return FLIP % 2 == 1 and 1 or HUGE end })
local CLEN = setmetatable({}, { __len = function() return 1 << 30 end, __index = rawlen })
local NEG = setmetatable({}, { __len = function() return -(1 << 62) end })
local F = function(...) return ... end
local S = ("s"):rep(1 << 12)
]]

local FUNCTIONS = {
  "string.rep", "string.sub", "string.byte", "string.char", "string.upper", "string.lower", "string.reverse",
  "string.format", "string.pack", "string.unpack", "string.packsize", "string.find", "string.match",
  "string.gmatch", "string.gsub", "string.len", "table.insert", "table.remove", "table.move", "table.concat",
  "table.unpack", "table.sort", "table.pack", "utf8.char", "utf8.codepoint", "utf8.len", "utf8.offset",
  "utf8.codes", "select", "tonumber", "tostring", "ipairs", "pairs", "next", "rawlen", "rawget", "rawequal",
  "setmetatable", "getmetatable", "math.floor", "math.max", "math.min", "math.tointeger", "math.fmod",
  "math.abs", "math.ult", "math.random", "coroutine.wrap", "coroutine.create", "coroutine.resume",
  "coroutine.close", "os.date", "os.time", "os.difftime", "print", "log", "error", "pcall", "xpcall", "assert",
  "type", "imei.parse", "imei.valid", "imei.luhn", "imei.check_digit", "lists.stolen.has",
}

local ATOMS = {
  "0", "-1", "1", "1e308", "-1e308", "0/0", "1/0", "-1/0", "math.maxinteger", "math.mininteger", "HUGE", "BIG",
  "-BIG", "1 << 62", "2^53", "''", "'x'", "S", "S .. S", "'%s%s%s%s'", "'%99s'", "'%-99d'", "'i16'", "'z'",
  "'s4'", "'%'", "'(((((('", "'[a-'", "'.-.-.-.-b'", "'%b()'", "'\\xff\\xfe'", "{}", "{1, 2, 3}", "LIAR",
  "FLIPPER", "CLEN", "NEG", "F", "nil", "true", "'*t'", "'!%c'", "'" .. STOLEN .. "'",
}

local SHAPES = {
  function(args) return ("pcall(%s)"):format(args) end,
  function(args) return ("for _ = 1, 1e9 do pcall(%s) end"):format(args) end,
  function(args)
    return ("local co = coroutine.wrap(function() for _ = 1, 1e9 do pcall(%s) end end) co()"):format(args)
  end,
  function(_, direct) return ("local r = { %s } return #r > 0"):format(direct) end,
}

-- One generated snippet: a function from the list, 0 to 4 atoms as its arguments, in a shape.
local function generate(rng)
  local fn = FUNCTIONS[rng(#FUNCTIONS)]
  local args = {}
  if fn == "lists.stolen.has" then args[1] = "lists.stolen" end
  for _ = 1, rng(5) - 1 do args[#args + 1] = ATOMS[rng(#ATOMS)] end
  local list = table.concat(args, ", ")
  return SHAPES[rng(#SHAPES)](fn .. (#args > 0 and ", " .. list or ""), fn .. "(" .. list .. ")")
end

local function policy_text(body, at_load)
  if at_load then
    return PRELUDE .. "local function hostile()\n" .. body .. "\nend\npcall(hostile)\n" .. [[
local P = policy.new { name = "f", version = "1" }
P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
return P
]]
  end
  return PRELUDE .. [[
local P = policy.new { name = "f", version = "1" }
P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
P:condition { name = "x", status = "GREYLISTED", when = function(d, r)
  if d.key ~= "00000000000000" then return false end
]] .. body .. "\nend }\nreturn P\n"
end

-- Run one snippet; returns nil, or a problem (a string).
local function try(dir, lists, name, body, at_load, limits)
  local path = dir .. "/p.lua"
  write(path, policy_text(body, at_load))
  local t0 = wall()
  local e, err = imei.engine.new { policy = path, lists = lists, quiet = true, limits = limits }
  local took = wall() - t0
  if at_load and took > LOAD_BOUND then
    return ("%s (load): took %.2f s, over %.1f s"):format(name, took, LOAD_BOUND)
  end
  if not e then
    if at_load then return nil end -- refused: fine, as long as it ended
    return ("%s: the policy did not load: %s"):format(name, tostring(err))
  end
  if not at_load then
    t0 = wall()
    local v = e:check { pei = "000000000000000", time = 1767225600 }
    took = wall() - t0
    if took > CHECK_BOUND then
      return ("%s: the check took %.2f s, over %.1f s (%s)"):format(name, took, CHECK_BOUND, tostring(v.error))
    end
  end
  for _ = 1, 2 do
    local good = e:check { pei = STOLEN, time = 1767225600 }
    if good.status ~= "BLACKLISTED" or good.failed then
      return ("%s%s: then the stolen device was %s (%s)"):format(name, at_load and " (load)" or "", good.status,
        tostring(good.error))
    end
  end
  e:close()
  return nil
end

function M.corpus()
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  local p = io.popen("ls " .. dir .. "/policy_corpus/*.lua")
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  local out = {}
  for _, f in ipairs(files) do
    local h = assert(io.open(f))
    out[#out + 1] = { name = f:match("([^/]*)%.lua$"), body = h:read("a") }
    h:close()
  end
  return out
end

--- run { corpus = bool | {names}, generated = N, load_every = K, seed = S, seconds = T, limits = engine
-- limits } → problems, runs
-- Each generated snippet runs at check time; every K-th also at load time.
function M.run(opts)
  local dir = tmpdir()
  os.execute("mkdir -p " .. dir .. "/lists")
  write(dir .. "/lists/stolen.csv", "imei\n" .. STOLEN .. "\n")
  local lists = assert(imei.engine.open_lists(dir .. "/lists"))
  local problems, runs = {}, 0
  local function note(p)
    runs = runs + 1
    if p then problems[#problems + 1] = p end
  end
  if opts.corpus then
    for _, c in ipairs(M.corpus()) do
      if opts.corpus == true or opts.corpus[c.name] then
      note(try(dir, lists, c.name, c.body, false, opts.limits))
      note(try(dir, lists, c.name, c.body, true, opts.limits))
      end
    end
  end
  local seed = opts.seed or 1
  local state = seed
  local function rng(n) -- a small LCG: the same snippets for the same seed, on every Lua
    state = (state * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
    return (state >> 33) % n + 1
  end
  local deadline = opts.seconds and (wall() + opts.seconds)
  local i = 0
  while (opts.generated and i < opts.generated) or (deadline and wall() < deadline) do
    i = i + 1
    local body = generate(rng)
    local name = ("generated #%d (seed %d): %s"):format(i, seed, body)
    note(try(dir, lists, name, body, false, opts.limits))
    if opts.load_every and i % opts.load_every == 0 then note(try(dir, lists, name, body, true, opts.limits)) end
  end
  os.execute("rm -rf " .. dir)
  return problems, runs
end

if arg and arg[0] and arg[0]:match("policy_fuzz%.lua$") then
  local seconds, seed = tonumber(arg[1] or "60"), tonumber(arg[2] or tostring(os.time()))
  local problems, runs = M.run { corpus = true, seconds = seconds, seed = seed, load_every = 5 }
  for _, p in ipairs(problems) do print(p) end
  print(("policy_fuzz: %d runs, %d problems (seed %d)"):format(runs, #problems, seed))
  os.exit(#problems == 0 and 0 or 1)
end

return M

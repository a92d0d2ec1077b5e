-- tacdb_strcache_spec.lua — db:lookup(tac string) answers through a table keyed by the
-- string's address (binding/lua_tacdb.c, the string cache): attacked with TAC strings,
-- 8-digit strings that are no record's TAC, longer keys, strings that are not digits,
-- long (not interned) strings and numbers, with db:cache(n) changed mid-way and full
-- collections between lookups; every answer must be the one of a db without any cache,
-- strings that are no TAC must not be kept, and a closed db must refuse.
local tacdb = require "imei.tacdb"

local OSMOCOM = "data/osmocom-tacdb.csv"

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- The answer of db:lookup(q) as a comparable value: the record, or the error's text.
local function answer(db, q)
  local ok, rec, err = pcall(db.lookup, db, q)
  if not ok then return "raised: " .. tostring(rec):gsub("^.-:%d+: ", "") end
  return rec or ("nil: " .. tostring(err))
end

describe("db:lookup through the TAC string cache", function()
  local db, plain, tacs
  setup(function()
    db = assert(tacdb.load(OSMOCOM))
    plain = assert(tacdb.load(OSMOCOM))
    plain:cache(0) -- every lookup builds its record: the reference
    -- the TACs as numbers: each query string is made when asked and dropped after, so
    -- that a collection frees it and its address may come back as another string's
    tacs = {}
    for i = 1, #plain do tacs[i] = assert(math.tointeger(tonumber(plain:record(i).tac))) end
  end)

  it("gives a fresh db's records for any key, across cache changes and collections", function()
    local rng = 12345
    local function random(n) -- a fixed sequence: the same probes every run
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    local differ, probes = 0, 0
    for round = 1, 5 do
      for _ = 1, 4000 do
        local kind = random(8)
        local q
        local tac = ("%08d"):format(tacs[random(#tacs)])
        if kind <= 3 then q = tac
        elseif kind == 4 then q = ("%08d"):format(random(100000000) - 1) -- mostly no record's TAC
        elseif kind == 5 then q = tac .. ("%06d"):format(random(1000000) - 1)
        elseif kind == 6 then q = tac:sub(1, 7) .. "x"
        elseif kind == 7 then q = math.tointeger(tonumber(tac))
        else q = tac:rep(6) end -- longer than a short string: not interned
        probes = probes + 1
        if not same(answer(db, q), answer(plain, q)) then differ = differ + 1 end
        if probes % 17 == 0 then collectgarbage() end
      end
      db:cache(({ 1000, 0, #db, 262144, 262144 })[round])
      collectgarbage()
    end
    assert.equal(20000, probes)
    assert.equal(0, differ)
  end)

  it("keeps only the strings of records' TACs", function()
    for i = 1, #tacs, 7 do
      local tac = ("%08d"):format(tacs[i])
      assert.same(plain:lookup(tac), db:lookup(tac))
    end
    collectgarbage()
    collectgarbage()
    local before = collectgarbage("count")
    for i = 1, 100000 do db:lookup(("%08d"):format(i * 7919 % 100000000)) end
    collectgarbage()
    collectgarbage()
    -- 100,000 distinct 8-digit strings (a few hundred of them TACs): well under 1 MB kept
    assert.is_true(collectgarbage("count") - before < 1024)
  end)

  it("refuses once closed, whatever it cached", function()
    local closing = assert(tacdb.load(OSMOCOM))
    local tac = ("%08d"):format(tacs[1])
    assert.equal(tac, closing:lookup(tac).tac)
    assert.equal(tac, closing:lookup(tac).tac) -- through the string cache
    closing:close()
    assert.matches("closed", select(2, pcall(closing.lookup, closing, tac)))
    assert.matches("closed", select(2, pcall(closing.lookup, closing, 35209900)))
  end)
end)

-- tacdb_records_spec.lua — the record tables db:lookup gives (binding/lua_tacdb.c): for every
-- TAC of the real Osmocom file (data/) and of the GSMA sample, the record equals the one
-- derived here from what the loader handed to builder:add (the record shape documented in
-- lua/imei/tacdb/init.lua), whether it comes from the cache, is built fresh (db:cache(0)),
-- or comes through a small direct-mapped cache that evicts; and the cache's bounds.
local core = require "imei.core"
local tacdb = require "imei.tacdb"

local FIELDS = { "brand", "model", "marketing_name", "manufacturer", "device_type", "os", "bands" }
local RATS = { "2G", "3G", "4G", "5G" }

-- Load path, recording a copy of the fields of each key as the builder keeps them.
local function load_recording(path, opts)
  local real = core.tacdb_builder
  local added = {}
  core.tacdb_builder = function(dups)
    local b = real(dups)
    return setmetatable({}, {
      __index = function(_, name)
        if name ~= "add" then
          return function(_, ...) return b[name](b, ...) end
        end
        return function(_, key, tag, fields)
          local ok, prev = b:add(key, tag, fields)
          if ok == true or (ok == false and dups ~= "first") then
            local copy = {}
            for k, v in pairs(fields) do copy[k] = v end
            if fields.extra then copy.extra = table.move(fields.extra, 1, #fields.extra, 1, {}) end
            added[key] = copy
          end
          return ok, prev
        end
      end,
      __close = function() b:close() end,
      __len = function() return #b end,
    })
  end
  local ok, db = pcall(tacdb.load, path, opts)
  core.tacdb_builder = real
  assert(ok, db)
  return assert(db), added
end

-- The record of key from the fields given to builder:add.
local function expected(key, f)
  local r = { tac = key }
  for _, name in ipairs(FIELDS) do
    if f[name] and f[name] ~= "" then r[name] = f[name] end
  end
  local d = f.allocation_date
  if d and d ~= 0 then r.allocation_date = ("%04d-%02d-%02d"):format(d // 10000, d // 100 % 100, d % 100) end
  r.rat = f.rat or (f.bands and core.tacdb_rat(f.bands)) or 0
  r.rats = {}
  for i, name in ipairs(RATS) do
    if r.rat & (1 << (i - 1)) ~= 0 then r.rats[name] = true end
  end
  local extra = f.extra or {}
  for i = 1, #extra, 2 do
    if extra[i + 1] ~= "" then
      r.extra = r.extra or {}
      r.extra[extra[i]] = extra[i + 1]
    end
  end
  return r
end

local function check_all(db, added, how)
  local n = 0
  for key, f in pairs(added) do
    local want = expected(key, f)
    assert.same(want, db:lookup(key), how .. " " .. key)
    if #key == 8 then assert.same(want, db:lookup(key .. "1234567"), how .. " " .. key) end
    n = n + 1
  end
  assert.equal(#db, n)
  return n
end

describe("tacdb records", function()
  for _, path in ipairs({ "data/osmocom-tacdb.csv", "data/sample-gsma-tac.txt" }) do
    it("are what the loader gave for every key of " .. path .. ", cached, fresh or evicted", function()
      local db, added = load_recording(path)
      assert.is_true(#db > 0)
      check_all(db, added, "cached")
      db:cache(0)
      check_all(db, added, "no cache")
      db:cache(7) -- 7 slots: every lookup of a key evicts another
      check_all(db, added, "7 slots")
      local img = assert(core.tacdb_from_image(db:image()))
      check_all(img, added, "image")
      img:close()
      db:close()
    end)
  end

  it("keeps one table per record while it stays cached, and at most db:cache() slots", function()
    local rows = {}
    for i = 1, 100 do rows[i] = { tac = ("%08d"):format(35000000 + i), brand = "B" .. i % 3, model = "M" .. i } end
    local db = assert(tacdb.build(rows))
    assert.equal(262144, db:cache()) -- the default: every record of the GSMA's database
    local first = {}
    for i = 1, 100 do first[i] = db:lookup(rows[i].tac) end
    for i = 1, 100 do assert.equal(first[i], db:lookup(rows[i].tac .. "0000001")) end
    assert.equal(262144, db:cache(10))
    -- 10 slots, direct-mapped by record number: records i and i + 10 share a slot
    local function slot(tac) return (db:index(tac) - 1) % 10 end
    local same, other
    for i = 2, 100 do
      if slot(rows[i].tac) == slot(rows[1].tac) then same = same or rows[i].tac else other = other or rows[i].tac end
    end
    local a = db:lookup(rows[1].tac)
    assert.are_not.equal(first[1], a) -- the cache started over
    assert.equal(a, db:lookup(rows[1].tac))
    local b = db:lookup(other)
    assert.equal(a, db:lookup(rows[1].tac)) -- another slot: still there
    local c = db:lookup(same)
    assert.are_not.equal(a, db:lookup(rows[1].tac)) -- evicted by the record of its slot
    assert.equal(b, db:lookup(other))
    assert.same(a, db:lookup(rows[1].tac)) -- an evicted record is still a whole record
    assert.equal(same, c.tac)
    -- the Lua heap the cache holds is bounded by its slots, whatever is looked up
    collectgarbage()
    local before = collectgarbage("count")
    for _ = 1, 20 do
      for i = 1, 100 do db:lookup(rows[i].tac) end
    end
    collectgarbage()
    assert.is_true(collectgarbage("count") - before < 16, "10 slots hold at most 10 records")
    db:close()
  end)

  it("gives a TAC string's record through the string-keyed cache, also when the string is made anew", function()
    local rows = {}
    for i = 1, 300 do rows[i] = { tac = ("%08d"):format(35000000 + i * 7), model = "M" .. i } end
    rows[301] = { tac = "350000", model = "short prefix" } -- a 6-digit range key
    local db = assert(tacdb.build(rows))
    local rec = {}
    for i = 1, 300 do rec[i] = db:lookup(("%08d"):format(35000000 + i * 7)) end
    for round = 1, 3 do
      -- strings made again each round: the old ones may be collected, their addresses reused
      collectgarbage()
      for i = 1, 300 do
        local tac = ("%08d"):format(35000000 + i * 7)
        assert.equal(rec[i], db:lookup(tac), "round " .. round .. " " .. tac)
        assert.equal(rec[i], db:lookup(tac .. "0000001"))
        assert.equal("M" .. i, db:lookup(tac).model)
        -- a neighbour that is not a TAC: the range key's record, never a cached TAC's
        local near = ("%08d"):format(35000000 + i * 7 + 1)
        assert.equal(i * 7 + 1 < 100 and "short prefix" or nil, (db:lookup(near) or {}).model)
      end
    end
    assert.equal("short prefix", db:lookup("35000001").model)
    -- whatever else is passed gets the same answers as without the cache
    assert.has_error(function() db:lookup(35000007) end)
    assert.has_error(function() db:lookup({}) end)
    assert.same({ nil, "'x' at position 1 is not a digit" }, { db:lookup("x5000007") })
    db:cache(0) -- drops both caches
    assert.same(rec[1], db:lookup("35000007"))
    assert.are_not.equal(rec[1], db:lookup("35000007"))
    db:close()
    assert.has_error(function() db:lookup("35000007") end)
  end)

  it("makes one Lua string per distinct long string of the image, not one per record", function()
    local long = ("Marketing name of many devices "):rep(32) -- 1 KB: not a string Lua interns
    local rows = {}
    for i = 1, 1000 do rows[i] = { tac = ("%08d"):format(35000000 + i), marketing_name = long } end
    local db = assert(tacdb.build(rows))
    collectgarbage()
    local before = collectgarbage("count")
    for i = 1, 1000 do assert.equal(long, db:lookup(rows[i].tac).marketing_name) end
    collectgarbage()
    -- 1000 records of a few fields: ~0.3 MB; a copy of the name each would add 1 MB
    assert.is_true(collectgarbage("count") - before < 700, "one name, shared")
    db:close()
  end)
end)

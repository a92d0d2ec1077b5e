-- imei.sightings: the sightings store from Lua (docs/sightings.md).
local imei = require "imei"
local sightings = require "imei.sightings"

local DAY = 86400
local T0 = 20000 * DAY -- 2024-10-04 00:00:00 UTC

local dirs = {}
local function tmpdir()
  local path = os.tmpname()
  os.remove(path)
  dirs[#dirs + 1] = path
  return path
end

local function backends()
  return { "memory", "lmdb:" .. tmpdir() }
end

-- 15-digit IMSIs of PLMN 410-01, and MSISDNs, from numbers
local function imsi(n) return ("41001%010d"):format(n) end
local function msisdn(n) return ("92300%07d"):format(n) end

local KEY = "352099001761481" -- IMEI; its 14-digit key is 35209900176148

teardown(function()
  for _, d in ipairs(dirs) do os.execute("rm -rf '" .. d .. "'") end
end)

describe("imei.sightings", function()
  it("is reachable as imei.sightings and opens both backends", function()
    assert.are.equal(sightings, imei.sightings)
    for _, spec in ipairs(backends()) do
      local st = assert(sightings.open(spec))
      assert.matches("imei.sightings store %(" .. spec:gsub("%p", "%%%0") .. "%)", tostring(st))
      assert.is_false(st:read_only())
      assert.is_true(st:close())
      assert.are.equal("imei.sightings store (closed)", tostring(st))
      assert.has_error(function() st:imsis(KEY, 1) end, "imei.sightings: the store is closed")
    end
  end)

  it("refuses bad specs and options with a message", function()
    local st, err = sightings.open("redis:localhost")
    assert.is_nil(st)
    assert.matches("redis:localhost", err)
    assert.matches("lmdb:PATH", err)
    assert.is_nil((sightings.open("lmdb:")))
    st, err = sightings.open("lmdb:/proc/version")
    assert.is_nil(st)
    assert.matches("not a directory", err)
    assert.has_error(function() sightings.open("memory", { batch = 0 }) end,
      "imei.sightings.open: opts.batch must be a whole number >= 1")
    assert.has_error(function() sightings.open("memory", "big") end)
  end)

  for _, spec in ipairs(backends()) do
    describe(spec:match("^%a+"), function()
      local st
      before_each(function()
        if spec ~= "memory" then os.execute("rm -rf '" .. spec:sub(6) .. "'") end
        st = assert(sightings.open(spec, { batch = 64 }))
      end)
      after_each(function() st:close() end)

      it("collapses an IMEI, its IMEISV and its PEI to one key", function()
        assert.is_true(st:record { key = KEY, imsi = imsi(1), time = T0 })
        assert.is_true(st:record { key = "35-209900-176148-23", imsi = imsi(2), time = T0 })
        assert.is_true(st:record { key = "imei-352099001761480", imsi = imsi(3), time = T0 }) -- wrong CD
        assert.is_true(st:record { key = "35209900176148", imsi = imsi(1), time = T0 + 5 })
        assert.are.equal(3, st:imsis("35209900176148", 1, T0))
        assert.are.same({ imsi(1), imsi(2), imsi(3) }, (st:imsi_list("3520990017614899", 1, T0)))
        local all = st:sightings(KEY)
        assert.are.equal(3, #all)
        assert.are.equal("35209900176148", all[1].key)
      end)

      it("names the field of bad input and records nothing", function()
        local cases = {
          { { imsi = imsi(1), time = T0 }, "^key: missing" },
          { { key = "12345", imsi = imsi(1) }, "^key: '12345'" },
          { { key = "A0000000002329", imsi = imsi(1) }, "^key: .*meid" },
          { { key = 35209900176148, imsi = imsi(1) }, "^key: expected a string, got number" },
          { { key = KEY }, "^imsi: missing" },
          { { key = KEY, imsi = "12345" }, "^imsi: '12345' has 5 digits" },
          { { key = KEY, imsi = "4100112345678x" }, "^imsi: .*character 14" },
          { { key = KEY, imsi = imsi(1), msisdn = "92-300" }, "^msisdn: .*character 3" },
          { { key = KEY, imsi = imsi(1), operator = "4100" }, "^operator: '4100'" },
          { { key = KEY, imsi = imsi(1), rat = "6G" }, "^rat: '6G'" },
          { { key = KEY, imsi = imsi(1), rat = 11 }, "^rat: .*1..10" },
          { { key = KEY, imsi = imsi(1), rat = true }, "^rat: expected a string or number" },
          { { key = KEY, imsi = imsi(1), time = -1 }, "^time: %-1 is out of range" },
          { { key = KEY, imsi = imsi(1), time = 1 << 32 }, "^time: 4294967296 is out of range" },
          { { key = KEY, imsi = imsi(1), time = 1.5 }, "^time: expected whole UTC seconds, got a fraction" },
          { { key = KEY, imsi = imsi(1), time = "now" }, "^time: expected whole UTC seconds, got string" },
        }
        for _, case in ipairs(cases) do
          local ok, err = st:record(case[1])
          assert.is_nil(ok)
          assert.matches(case[2], err)
        end
        assert.are.equal(0, st:stats().recorded)
        assert.has_error(function() st:record("35209900176148") end)
        assert.has_error(function() st:imsis(KEY, 0) end)
        assert.has_error(function() st:imsis(KEY, 1.5) end)
        assert.has_error(function() st:imsis(35209900176148, 1) end)
        local n, err = st:imsis("123", 1)
        assert.is_nil(n)
        assert.matches("^key: '123'", err)
      end)

      it("records many rows at once, and stops at a bad one", function()
        local rows = {}
        for i = 1, 2500 do rows[i] = { key = KEY, imsi = imsi(i % 100), time = T0 + i } end
        assert.are.equal(2500, st:record_many(rows))
        assert.are.equal(100, st:imsis(KEY, 1, T0))
        assert.are.equal(2500, st:stats().recorded)
        local n, err, done = st:record_many { { key = KEY, imsi = imsi(500), time = T0 }, { key = KEY, imsi = "1" },
                                               { key = KEY, imsi = imsi(501), time = T0 } }
        assert.is_nil(n)
        assert.matches("^sighting 2: imsi: '1' has 1 digits", err)
        assert.are.equal(1, done)
        assert.are.equal(101, st:imsis(KEY, 1, T0))
        n, err, done = st:record_many { { key = KEY, imsi = imsi(502), time = T0 }, "row" }
        assert.is_nil(n)
        assert.are.equal("sighting 2: expected a table, got string", err)
        assert.are.equal(1, done)
        assert.are.equal(0, st:record_many {})
        assert.has_error(function() st:record_many("rows") end)
      end)

      it("keeps optional fields, and \"\" means absent", function()
        assert.is_true(st:record { key = KEY, imsi = imsi(1), msisdn = "+923001234567", operator = "410-01",
                                   rat = "LTE", time = T0 })
        assert.is_true(st:record { key = KEY, imsi = imsi(1), msisdn = "923001234567", operator = "41003",
                                   rat = 2, time = T0 + 2 * DAY })
        assert.is_true(st:record { key = KEY, imsi = imsi(2), msisdn = "", operator = "", rat = "", time = T0 })
        local all = st:sightings(KEY)
        assert.are.same({
          key = "35209900176148", imsi = imsi(1), msisdn = "923001234567", operator = "410-03",
          rats = { "GERAN", "EUTRAN" }, first_seen = T0, last_seen = T0 + 2 * DAY, days_seen = 2,
          days_bitmap = 5, -- bit i: seen on the last day minus i (here: the last day and two days before)
        }, all[1])
        assert.are.same({
          key = "35209900176148", imsi = imsi(2), rats = {}, first_seen = T0, last_seen = T0, days_seen = 1,
          days_bitmap = 1,
        }, all[2])
      end)

      it("counts a window of N whole UTC days ending with the day of now", function()
        -- IMSI 1 at 00:00:00 of day D, IMSI 2 a second earlier
        st:record { key = KEY, imsi = imsi(1), time = T0 }
        st:record { key = KEY, imsi = imsi(2), time = T0 - 1 }
        for _, n in ipairs { 1, 2, 30, 64, 65, 120, 365 } do
          local first, last = T0 + (n - 1) * DAY, T0 + n * DAY - 1
          assert.are.equal(1, st:imsis(KEY, n, first))
          assert.are.equal(1, st:imsis(KEY, n, last))
          assert.are.equal(2, st:imsis(KEY, n + 1, last))
          assert.are.equal(0, st:imsis(KEY, n, last + 1))
        end
        local n, exact = st:imsis(KEY, 120, T0 + 10 * DAY)
        assert.are.equal(2, n)
        assert.is_true(exact)
        assert.are.equal(0, st:imsis("35209900176149", 120, T0))
      end)

      it("handles many IMSIs on one key, and first and last seen", function()
        for i = 1, 3000 do
          assert.is_true(st:record { key = KEY, imsi = imsi(3001 - i), msisdn = msisdn(i % 7), time = T0 + i })
        end
        st:record { key = KEY, imsi = imsi(3000), time = T0 + 3 * DAY }
        local list = st:imsi_list(KEY, 30, T0 + 3 * DAY)
        assert.are.equal(3000, #list)
        for i = 2, #list do assert.is_true(list[i - 1] < list[i]) end
        assert.are.equal(3000, st:imsis(KEY, 30, T0 + 3 * DAY))
        assert.are.equal(7, st:msisdns(KEY, 30, T0 + 3 * DAY))
        assert.are.equal(7, #st:msisdn_list(KEY, 30, T0 + 3 * DAY))
        assert.are.equal(1, st:imsis(KEY, 1, T0 + 3 * DAY))
        local first, when = st:first_imsi(KEY)
        assert.are.equal(imsi(3000), first)
        assert.are.equal(T0 + 1, when)
        local last, at = st:last_imsi(KEY)
        assert.are.equal(imsi(3000), last)
        assert.are.equal(T0 + 3 * DAY, at)
        assert.is_nil(st:first_imsi("35209900176149"))
        assert.is_nil(st:last_imsi("35209900176149"))
      end)

      it("gives per-day counts and the average over days seen", function()
        -- day 0: IMSIs 1, 2; day 1: none; day 2: IMSIs 1, 2, 3, 4 (one twice); day 3: IMSI 5
        st:record { key = KEY, imsi = imsi(1), time = T0 + 10 }
        st:record { key = KEY, imsi = imsi(2), time = T0 + 20 }
        for i = 1, 4 do st:record { key = KEY, imsi = imsi(i), time = T0 + 2 * DAY + i } end
        st:record { key = KEY, imsi = imsi(4), time = T0 + 2 * DAY + 99 }
        st:record { key = KEY, imsi = imsi(5), time = T0 + 3 * DAY }
        local d = st:daily(KEY, 3, T0 + 3 * DAY)
        assert.are.same({
          days_seen = 2, total = 5, average = 2.5, exact = true,
          days = {
            { day = 20002, date = "2024-10-06", imsis = 4 },
            { day = 20003, date = "2024-10-07", imsis = 1 },
          },
        }, d)
        d = st:daily(KEY, 30, T0 + 3 * DAY)
        assert.are.equal(3, d.days_seen)
        assert.are.equal(7, d.total)
        assert.are.equal(7 / 3, d.average)
        d = st:daily("35209900176149", 30, T0)
        assert.are.same({ days_seen = 0, total = 0, average = 0.0, exact = true, days = {} }, d)
      end)

      it("follows pairing changes", function()
        assert.is_false(st:is_paired(KEY, imsi(1)))
        assert.is_true(st:pair(KEY, imsi(1), msisdn(1)))
        assert.is_true(st:pair("35209900176148", imsi(2)))
        local paired, m = st:is_paired(KEY, imsi(1))
        assert.is_true(paired)
        assert.are.equal(msisdn(1), m)
        assert.is_false(st:pair(KEY, imsi(1), msisdn(9))) -- already paired: MSISDN replaced
        assert.are.same({
          { key = "35209900176148", imsi = imsi(1), msisdn = msisdn(9) },
          { key = "35209900176148", imsi = imsi(2) },
        }, st:pairs_of(KEY))
        -- the device changes hands
        assert.is_true(st:unpair(KEY, imsi(1)))
        assert.is_false(st:unpair(KEY, imsi(1)))
        assert.is_true(st:pair(KEY, imsi(3)))
        assert.are.same({ imsi(2), imsi(3) }, {
          st:pairs_of(KEY)[1].imsi, st:pairs_of(KEY)[2].imsi })
        assert.is_false(st:is_paired(KEY, imsi(1)))
        assert.are.same({}, st:pairs_of("35209900176149"))
        local n = 0
        for p in st:pairings() do
          n = n + 1
          assert.are.equal("35209900176148", p.key)
        end
        assert.are.equal(2, n)
        local ok, err = st:pair(KEY, "123")
        assert.is_nil(ok)
        assert.matches("^imsi:", err)
        ok, err = st:pair(KEY, imsi(1), "12")
        assert.is_nil(ok)
        assert.matches("^msisdn:", err)
      end)

      it("iterates every sighting and every key, and a break closes the iteration", function()
        for i = 1, 50 do
          st:record { key = ("3520990017%04d"):format(i % 10), imsi = imsi(i), time = T0 }
        end
        local n, keys = 0, {}
        for s in st:each() do
          n = n + 1
          keys[s.key] = true
        end
        assert.are.equal(50, n)
        local k = 0
        for key in st:keys() do
          k = k + 1
          assert.is_true(keys[key])
        end
        assert.are.equal(10, k)
        for s in st:each() do
          if s.key then break end -- leaves the loop: the iterator closes
        end
        assert.is_true(st:record { key = KEY, imsi = imsi(99), time = T0 })
        if spec ~= "memory" then st:flush() end -- LMDB counts what is committed
        assert.is_true(st:check())
        local stats = st:stats()
        assert.are.equal(51, stats.recorded)
        assert.are.equal(11, stats.keys)
        assert.is_true(stats.bytes > 0)
      end)

      it("hands out read-only views that refuse writes", function()
        st:record { key = KEY, imsi = imsi(1), time = T0 }
        local view = st:read_only_view()
        assert.is_true(view:read_only())
        assert.matches("read%-only", tostring(view))
        assert.are.equal(1, view:imsis(KEY, 1, T0))
        local msg = "imei.sightings: this store is read-only (policies read sightings, they do not write them)"
        assert.has_error(function() view:record { key = KEY, imsi = imsi(2), time = T0 } end, msg)
        assert.has_error(function() view:pair(KEY, imsi(2)) end, msg)
        assert.has_error(function() view:unpair(KEY, imsi(2)) end, msg)
        assert.has_error(function() view:flush() end, msg)
        assert.are.equal("imei.sightings.store", getmetatable(view))
        -- a method's self is checked (by its metatable): anything else is refused by name
        local imsis = view.imsis
        for _, other in ipairs { {}, "x", io.stdout, sightings.open("memory"):read_only_view() } do
          if getmetatable(other) == "imei.sightings.store" then
            assert.are.equal(0, imsis(other, KEY, 1, T0)) -- another store: its own answer
          else
            assert.has_error(function() imsis(other, KEY, 1, T0) end)
            local ok, err = pcall(imsis, other, KEY, 1, T0)
            assert.is_false(ok)
            assert.matches("imei.sightings.store expected", err)
          end
        end
        -- the view keeps the store alive after the first handle closes
        st:record { key = KEY, imsi = imsi(2), time = T0 }
        assert.is_true(st:close())
        assert.are.equal(2, view:imsis(KEY, 1, T0))
        view:close()
        st = assert(sightings.open(spec))
        if spec ~= "memory" then assert.are.equal(2, st:imsis(KEY, 1, T0)) end
      end)
    end)
  end

  describe("lmdb", function()
    it("acknowledges with flush() and keeps what it acknowledged", function()
      local spec = "lmdb:" .. tmpdir()
      local st = assert(sightings.open(spec, { batch = 10 }))
      for i = 1, 25 do st:record { key = KEY, imsi = imsi(i), time = T0 } end
      st:pair(KEY, imsi(1), msisdn(1))
      assert.are.equal(25, st:flush())
      assert.are.equal(25, st:stats().committed)
      assert.are.equal(0, st:stats().pending)
      local again, err = sightings.open(spec)
      assert.is_nil(again)
      assert.matches("already open in this process", err)
      do
        local closing <close> = st
        assert.are.equal(25, closing:imsis(KEY, 1, T0))
      end
      assert.are.equal("imei.sightings store (closed)", tostring(st))
      st = assert(sightings.open(spec))
      assert.are.equal(25, st:imsis(KEY, 1, T0))
      assert.is_true(st:is_paired(KEY, imsi(1)))
      assert.is_true(st:check())
      st:close()
      -- read-only opens refuse writes; nothing there is not created
      local ro = assert(sightings.open(spec, { read_only = true }))
      assert.is_true(ro:read_only())
      assert.are.equal(25, ro:imsis(KEY, 1, T0))
      assert.has_error(function() ro:record { key = KEY, imsi = imsi(1) } end)
      ro:close()
      local missing = tmpdir()
      local none, why = sightings.open("lmdb:" .. missing, { read_only = true })
      assert.is_nil(none)
      assert.matches(missing, why, 1, true)
      assert.is_nil(io.open(missing))
    end)

    it("reports a full map clearly and keeps every acknowledged sighting", function()
      local spec = "lmdb:" .. tmpdir()
      local st = assert(sightings.open(spec, { map_size = 256 * 1024, batch = 100 }))
      local acked, ok, err = 0, true, nil
      local i = 0
      while ok and i < 100000 do
        i = i + 1
        ok, err = st:record { key = ("35%012d"):format(i), imsi = imsi(i), msisdn = msisdn(i), time = T0 }
        if ok and i % 100 == 0 then
          ok, err = st:flush()
          if ok then acked = i end
        end
      end
      assert.is_nil(ok)
      assert.matches("MDB_MAP_FULL", err)
      assert.matches("map_size", err)
      assert.is_true(acked > 0)
      assert.is_true(st:check())
      st:close()
      st = assert(sightings.open(spec, { map_size = 16 << 20 }))
      assert.are.equal(acked, st:stats().committed)
      for j = 1, acked, 97 do
        assert.are.equal(1, st:imsis(("35%012d"):format(j), 1, T0))
      end
      st:close()
    end)

    it("refuses a damaged file and leaves it as it was", function()
      local dir = tmpdir()
      local st = assert(sightings.open("lmdb:" .. dir))
      for i = 1, 100 do st:record { key = KEY, imsi = imsi(i), time = T0 } end
      st:close()
      local f = assert(io.open(dir .. "/data.mdb", "r+b"))
      f:write(("\0\255"):rep(4096))
      f:close()
      f = assert(io.open(dir .. "/data.mdb", "rb"))
      local damaged = f:read("a")
      f:close()
      local none, err = sightings.open("lmdb:" .. dir)
      assert.is_nil(none)
      assert.matches("damaged", err)
      assert.matches(dir, err, 1, true)
      f = assert(io.open(dir .. "/data.mdb", "rb"))
      assert.are.equal(damaged, f:read("a"))
      f:close()
    end)

    it("gives the same answers as memory to one seeded random workload", function()
      local mem = assert(sightings.open("memory"))
      local lm = assert(sightings.open("lmdb:" .. tmpdir(), { batch = 333 }))
      local rng_state = 12345
      local function rnd(n)
        rng_state = (rng_state * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
        return (rng_state >> 20) % n
      end
      local keys = {}
      for k = 1, 60 do keys[k] = ("35%012d"):format(k * 7919) end
      local function query(t)
        local key, days = keys[rnd(#keys) + 1], rnd(100) + 1
        local now = rnd(2) == 0 and t or T0 + rnd(200) * DAY
        for _, method in ipairs { "imsi_list", "msisdn_list", "daily", "first_imsi", "last_imsi" } do
          local a = { mem[method](mem, key, days, now) }
          local b = { lm[method](lm, key, days, now) }
          assert.are.same(a, b)
        end
      end
      for i = 1, 6000 do
        local t = T0 + i * 2000 + (rnd(20) == 0 and -rnd(150) * DAY or 0)
        local row = {
          key = keys[rnd(#keys) + 1], imsi = imsi(rnd(12)), msisdn = rnd(3) > 0 and msisdn(rnd(5)) or nil,
          operator = ("410-0%d"):format(rnd(8)), rat = rnd(10) + 1, time = t,
        }
        assert.is_true(mem:record(row))
        assert.is_true(lm:record(row))
        if i % 37 == 0 then query(t) end
        if i % 1000 == 0 then lm:flush() end
      end
      local function dump(st)
        local out = {}
        for s in st:each() do out[#out + 1] = s end
        table.sort(out, function(x, y)
          if x.key ~= y.key then return x.key < y.key end
          if x.imsi ~= y.imsi then return x.imsi < y.imsi end
          return (x.msisdn or "") < (y.msisdn or "")
        end)
        return out
      end
      assert.are.same(dump(mem), dump(lm))
      mem:close()
      lm:close()
    end)
  end)
end)

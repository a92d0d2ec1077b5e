-- fsync_files_spec.lua — host.fsync_files and host.fsync_start (host/lua_fsync.c): the
-- files imei classify publishes, synced side by side (now, or on threads of their own
-- while the caller goes on); the answer is that of a loop of host.fsync over them.
local host = require "imei.host"

local dir = os.tmpname()
os.remove(dir)

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  assert(f:close())
end

describe("host.fsync_files", function()
  setup(function() assert(host.mkdir(dir)) end)
  teardown(function()
    for _, name in ipairs(host.listdir(dir) or {}) do os.remove(dir .. "/" .. name) end
    host.rmdir(dir)
  end)

  it("syncs every file of the list (more files than threads) and answers true", function()
    local paths = {}
    for i = 1, 21 do
      paths[i] = ("%s/f%02d.csv"):format(dir, i)
      write(paths[i], ("row %d\n"):format(i):rep(i * 100))
    end
    assert.is_true(host.fsync_files(paths))
    assert.is_true(host.fsync_files { paths[1] }) -- one file: no thread at all
    assert.is_true(host.fsync_files {})
    -- a folder syncs as host.fsync syncs one
    assert.is_true(host.fsync_files { dir, paths[2] })
  end)

  it("reports the first failure in the list's order, as host.fsync does, with its index", function()
    local paths = {}
    for i = 1, 12 do
      paths[i] = ("%s/g%02d.csv"):format(dir, i)
      if i ~= 4 and i ~= 9 then write(paths[i], "x\n") end
    end
    local ok, err, code, idx = host.fsync_files(paths)
    assert.is_nil(ok)
    assert.equal(4, idx)
    local _, one_err, one_code = host.fsync(paths[4])
    assert.equal(one_err, err)
    assert.equal(one_code, code)
    assert.truthy(err:find(paths[4], 1, true), err)
  end)

  it("fsync_start: the same answer from job:wait(), again on a second wait; close joins", function()
    local paths = {}
    for i = 1, 11 do
      paths[i] = ("%s/h%02d.csv"):format(dir, i)
      write(paths[i], ("line %d\n"):format(i):rep(500))
    end
    local job = host.fsync_start(paths)
    for i = 1, #paths do paths[i] = nil end -- the job keeps its own copies
    collectgarbage()
    assert.is_true(job:wait())
    assert.is_true(job:wait())
    job:close()
    job:close() -- closing twice does nothing
    assert.has_error(function() job:wait() end, "fsync job: closed")
    local missing = { dir .. "/h01.csv", dir .. "/none-a", dir .. "/h02.csv", dir .. "/none-b" }
    do
      local j <close> = host.fsync_start(missing)
      local ok, err, code, idx = j:wait()
      assert.is_nil(ok)
      assert.equal(2, idx)
      local _, one_err, one_code = host.fsync(missing[2])
      assert.equal(one_err, err)
      assert.equal(one_code, code)
    end
    -- a job dropped without waiting is joined by its collector
    host.fsync_start { dir .. "/h03.csv", dir .. "/h04.csv" }
    collectgarbage()
    collectgarbage()
    assert.is_true(host.fsync_start({}):wait())
  end)

  it("refuses what is not a list of paths", function()
    assert.has_error(function() host.fsync_files(dir) end)
    assert.has_error(function() host.fsync_files { dir, {} } end, "fsync_files: entry 2 is not a path")
    assert.has_error(function() host.fsync_start { dir, {} } end, "fsync_files: entry 2 is not a path")
    assert.has_error(function() host.fsync_start(dir) end)
  end)
end)

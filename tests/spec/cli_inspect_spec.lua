-- cli_inspect_spec.lua — `imei inspect`, run as a program (bin/imei via io.popen): readable
-- and --json output, stdin '-', exit codes (0 all valid, 1 some invalid, 2 usage error), --help.
local cjson = require "cjson"

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Run a shell command; returns its stdout+stderr and exit code.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local _, how, code = p:close()
  assert.equal("exit", how, "bin/imei was killed: " .. out)
  return out, code
end

-- Run bin/imei with args (and optional stdin text); returns its output and exit code.
local function imei_cmd(args, stdin)
  local cmd = "bin/imei"
  for _, a in ipairs(args) do cmd = cmd .. " " .. quote(a) end
  if not stdin then return run(cmd) end
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(stdin)
  f:close()
  local out, code = run(cmd .. " < " .. quote(path))
  os.remove(path)
  return out, code
end

describe("imei inspect", function()
  it("prints the breakdown of a valid IMEI and exits 0", function()
    local out, code = imei_cmd { "inspect", "35-209900-176148-1" }
    assert.equal(0, code)
    assert.matches("valid IMEI", out)
    assert.matches("digits%s+352099001761481", out)
    assert.matches("key%s+35209900176148", out)
    assert.matches("TAC%s+35209900%s+RBI 35 %(BABT%)", out)
    assert.matches("SNR%s+176148", out)
    assert.matches("CD%s+1 %(correct%)", out)
    assert.matches("PEI%s+imei%-352099001761481", out)
  end)

  it("explains a spare digit 0 and exits 1", function()
    local out, code = imei_cmd { "inspect", "490154203237510" }
    assert.equal(1, code)
    assert.matches("INVALID IMEI", out)
    assert.matches("WRONG, expected 8; a spare 0", out)
  end)

  it("exits 1 when any one of several inputs is invalid, and still prints all", function()
    local out, code = imei_cmd { "inspect", "490154203237518", "12345", "3520990017614899" }
    assert.equal(1, code)
    assert.matches("490154203237518  valid IMEI", out, 1, true)
    assert.matches("12345  INVALID: wrong length: 5 digits", out, 1, true)
    assert.matches("3520990017614899  valid IMEISV", out, 1, true)
    assert.matches("99 is reserved", out, 1, true)
  end)

  it("shows MEIDs, ESNs and junk for what they are", function()
    local out, code = imei_cmd { "inspect", "A0000000002329", "8016B128", "000000000000000" }
    assert.equal(0, code)
    assert.matches("valid MEID", out)
    assert.matches("pESN%s+8051F1AB", out)
    assert.matches("valid ESN", out)
    assert.matches("all zeros", out)
  end)

  it("writes one JSON object per identifier with --json", function()
    local out, code = imei_cmd { "inspect", "--json", "imei-490154203237518", "x" }
    assert.equal(1, code)
    local records = {}
    for line in out:gmatch("[^\n]+") do records[#records + 1] = cjson.decode(line) end
    assert.equal(2, #records)
    local a, b = records[1], records[2]
    assert.equal("imei-490154203237518", a.input)
    assert.is_true(a.valid)
    assert.equal("imei", a.kind)
    assert.equal("49015420323751", a.key)
    assert.is_true(a.cd_ok)
    assert.is_true(a.from_pei)
    assert.equal("x", b.input)
    assert.is_false(b.valid)
    assert.equal("invalid character 'x' at position 1", b.error)
  end)

  it("reads identifiers from stdin for '-', one per line", function()
    local out, code = imei_cmd({ "inspect", "--json", "-" }, "490154203237518\n35209900176148\r\n")
    assert.equal(0, code)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.is_true(cjson.decode(line).valid)
    end
    assert.equal(2, n)
    out, code = imei_cmd({ "inspect", "-", "352099001761482" }, "490154203237518\n")
    assert.equal(1, code)
    assert.matches("490154203237518  valid", out, 1, true)
    assert.matches("352099001761482  INVALID", out, 1, true)
  end)

  it("exits 2 with a usage message when called wrongly", function()
    local out, code = imei_cmd { "inspect" }
    assert.equal(2, code)
    assert.matches("missing argument 'id'", out)
    out, code = imei_cmd { "inspect", "--bogus", "490154203237518" }
    assert.equal(2, code)
    assert.matches("unknown option '%-%-bogus'", out)
    out, code = imei_cmd { "frobnicate" }
    assert.equal(2, code)
    assert.matches("unknown command 'frobnicate'", out)
    out, code = imei_cmd {}
    assert.equal(2, code)
    assert.matches("a command is required", out)
  end)

  it("has --help for the command and for inspect", function()
    local out, code = imei_cmd { "--help" }
    assert.equal(0, code)
    assert.matches("Usage: imei", out)
    assert.matches("inspect", out)
    out, code = imei_cmd { "inspect", "--help" }
    assert.equal(0, code)
    assert.matches("Usage: imei inspect", out)
    assert.matches("%-%-json", out)
  end)
end)

-- bulk_spec.lua — imei.validate_lines / imei.validate_file: every line counted, every bad
-- line reported with its number and reason, agreement with imei.valid line by line.
local imei = require "imei"

local lines = {
  "490154203237518",        -- 1 valid
  "490154203237510",        -- 2 spare 0: wrong check digit
  "35209900176148",         -- 3 imei14
  "3520990017614899\r",     -- 4 imeisv with CRLF
  "35-209900-176148-1",     -- 5 separators
  "",                       -- 6 empty
  "AF0123450ABCDE",         -- 7 MEID
  "imei-260531793113837",   -- 8 PEI
  "4901542032\0" .. "37518", -- 9 NUL
  "260531793113837",        -- 10 last, no newline
}
local text = table.concat(lines, "\n")

describe("imei.validate_lines", function()
  it("counts every line and reports the bad ones with their line numbers and reasons", function()
    local report = imei.validate_lines(text)
    assert.equal(10, report.lines)
    assert.equal(6, report.valid)
    assert.equal(4, report.invalid)
    assert.same({ imei = 4, imei14 = 1, imeisv = 1 }, report.kinds)
    assert.same({ 2, 6, 7, 9 }, report.bad_lines)
    assert.equal(4, #report.errors)
    assert.equal(2, report.errors[1].line)
    assert.equal("wrong check digit 0 (expected 8)", report.errors[1].reason)
    assert.matches("empty", report.errors[2].reason)
    assert.equal("not an IMEI: a meid", report.errors[3].reason)
    assert.equal("NUL byte at position 11", report.errors[4].reason)
    assert.is_nil(report.normalised)
  end)

  it("returns the normalised digits of the valid lines on request", function()
    local report = imei.validate_lines(text, { normalise = true })
    assert.equal(table.concat({ "490154203237518", "35209900176148", "3520990017614899", "352099001761481",
      "260531793113837", "260531793113837", "" }, "\n"), report.normalised)
  end)

  it("keeps every bad line number but only max_errors reasons", function()
    local t = {}
    for i = 1, 500 do t[i] = i % 2 == 0 and "490154203237518" or "junk" .. i end
    local report = imei.validate_lines(table.concat(t, "\n"), { max_errors = 3 })
    assert.equal(250, report.invalid)
    assert.equal(250, #report.bad_lines)
    assert.equal(499, report.bad_lines[250])
    assert.equal(3, #report.errors)
    assert.equal(5, report.errors[3].line)
    assert.equal(100, #imei.validate_lines(table.concat(t, "\n")).errors)
    assert.equal(0, #imei.validate_lines(table.concat(t, "\n"), { max_errors = 0 }).errors)
  end)

  it("agrees with imei.valid on every line of a random buffer", function()
    local x = 20240601
    local function r(n) x = (x * 1103515245 + 12345) % 2147483648; return x % n end
    local alphabet = "0123456789 -Ab\t"
    local t, want_valid, want_bad = {}, 0, {}
    for i = 1, 5000 do
      local s
      if r(2) == 0 then
        local body = {}
        for k = 1, 14 do body[k] = string.char(48 + r(10)) end
        s = table.concat(body)
        s = s .. (r(10) == 0 and tostring(r(10)) or imei.check_digit(s))
      else
        local c = {}
        for k = 1, r(20) do
          local j = r(#alphabet) + 1
          c[k] = r(3) == 0 and alphabet:sub(j, j) or string.char(48 + r(10))
        end
        s = table.concat(c)
      end
      t[i] = s
      if imei.valid(s) then want_valid = want_valid + 1 else want_bad[#want_bad + 1] = i end
    end
    local report = imei.validate_lines(table.concat(t, "\n") .. "\n")
    assert.equal(5000, report.lines)
    assert.equal(want_valid, report.valid)
    assert.same(want_bad, report.bad_lines)
  end)

  it("handles an empty buffer and a lone newline", function()
    local report = imei.validate_lines("")
    assert.equal(0, report.lines)
    report = imei.validate_lines("\n")
    assert.equal(1, report.lines)
    assert.equal(1, report.invalid)
  end)

  it("raises for misuse", function()
    local ok, err = pcall(imei.validate_lines, nil)
    assert.is_false(ok)
    assert.matches("string expected, got nil", err)
    ok, err = pcall(imei.validate_lines, "1\n", { max_errors = -1 })
    assert.is_false(ok)
    assert.matches("max_errors must be an integer >= 0", err)
    ok, err = pcall(imei.validate_lines, "1\n", { max_errors = "many" })
    assert.is_false(ok)
    assert.matches("max_errors must be an integer >= 0", err)
    ok, err = pcall(imei.validate_lines, "1\n", "normalise")
    assert.is_false(ok)
    assert.matches("table expected", err)
  end)
end)

describe("imei.validate_file", function()
  it("validates a file like the same text in a buffer", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    local from_file = assert(imei.validate_file(path))
    os.remove(path)
    local from_buffer = imei.validate_lines(text)
    assert.same(from_buffer, from_file)
  end)

  it("returns nil and an error naming the file it cannot read", function()
    local report, err = imei.validate_file("/nonexistent/imei-list.txt")
    assert.is_nil(report)
    assert.matches("/nonexistent/imei%-list%.txt: No such file", err)
    report, err = imei.validate_file("/tmp")
    assert.is_nil(report)
    assert.matches("not a regular file", err)
  end)
end)

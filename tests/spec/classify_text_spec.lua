-- classify_text_spec.lua — the CSV lines batch replay writes (imei.host.csv_lines, used by
-- imei.classify.text): RFC 4180 quoting, cells that are not strings, control characters
-- refused with the row's index, and text.write_csv in chunks reading back as written.
local host = require "imei.host"
local text = require "imei.classify.text"
local dsv = require "imei.tacdb.dsv"
local support = require "support"

describe("imei.host.csv_lines", function()
  it("quotes a cell with a comma, a quote, CR or LF and doubles its quotes (RFC 4180 §2)", function()
    local rows = { { "a", "b,c", 'say "hi"' }, { "x\ny", "p\rq", "" } }
    assert.equal('a,"b,c","say ""hi"""\n"x\ny","p\rq",\n', host.csv_lines(rows, 1, 2, 3))
  end)

  it("writes cells 1..n only, nil as empty and numbers as tostring gives them", function()
    assert.equal("1,,2.5\n", host.csv_lines({ { 1, nil, 2.5, "not written" } }, 1, 1, 3))
    assert.equal("\n", host.csv_lines({ { "a" } }, 1, 1, 0))
    assert.equal("", host.csv_lines({ { "a" } }, 2, 1, 1)) -- an empty range
  end)

  it("with controls, refuses the first row holding a control character: nil and its index", function()
    local rows = { { "a", "b" }, { "c", "d\te" }, { "f\1", "g" } }
    local out, k = host.csv_lines(rows, 1, 3, 2, true)
    assert.is_nil(out)
    assert.equal(2, k)
    assert.equal("a,b\nc,d\te\nf\1,g\n", host.csv_lines(rows, 1, 3, 2)) -- without: written as they are
    out, k = host.csv_lines({ { "ok", "\127" } }, 1, 1, 2, true)
    assert.is_nil(out)
    assert.equal(1, k)
  end)

  it("refuses a row that is not a table, and a cell count out of range", function()
    assert.has_error(function() host.csv_lines({ "a" }, 1, 1, 1) end)
    assert.has_error(function() host.csv_lines({ { "a" } }, 1, 1, -1) end)
    assert.has_error(function() host.csv_lines({ { "a" } }, math.maxinteger, math.maxinteger, 1) end)
  end)

  it("text.line is one line of it, without its line end", function()
    assert.equal('"a,b",c', text.line({ "a,b", "c" }))
    assert.equal("a", text.line({ "a", "b" }, 1))
  end)
end)

describe("imei.classify.text.write_csv", function()
  after_each(support.cleanup)

  it("writes more rows than a chunk, every one read back as written, check() every 65,536", function()
    local dir = support.tmpdir()
    local rows = {}
    for i = 1, 70000 do rows[i] = { ("%014d"):format(i), i % 7 == 0 and "x,y" or "z", i % 11 == 0 and 'q"' or "" } end
    local checks = 0
    local function check() checks = checks + 1 end
    assert.is_true(text.write_csv(dir .. "/l.csv", { "imei", "a", "b" }, rows, { check = check }))
    assert.equal(1, checks)
    local body = assert(io.open(dir .. "/l.csv", "rb")):read("a")
    local n = 0
    for lineno, cells in dsv.records(body, ",") do
      if lineno > 1 then
        n = n + 1
        assert.same(rows[n], { cells[1], cells[2], cells[3] })
      end
    end
    assert.equal(70000, n)
  end)

  it("controls(line, i) gives the message for a row with a control character; nothing is written past it", function()
    local dir = support.tmpdir()
    local rows = { { "a", "b" }, { "c", "d\ne" } }
    local ok, err = text.write_csv(dir .. "/l.csv", { "x", "y" }, rows, { controls = function(line, i)
      return ("row %d: %q"):format(i, line)
    end })
    assert.is_nil(ok)
    assert.equal(('row 2: %q'):format('c,"d\ne"'), err)
  end)
end)

--- imei.cli.util — small helpers shared by the subcommands.
local util = {}

--- Align rows of cells into columns; returns the text, each line prefixed by indent.
function util.table(rows, indent)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      local w = utf8.len(tostring(cell)) or #tostring(cell)
      widths[i] = math.max(widths[i] or 0, w)
    end
  end
  local out = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local text = tostring(cell)
      local pad = widths[i] - (utf8.len(text) or #text)
      cells[i] = i < #row and (text .. string.rep(" ", pad)) or text
    end
    out[#out + 1] = ((indent or "") .. table.concat(cells, "  ")):gsub("%s+$", "")
  end
  return table.concat(out, "\n") .. "\n"
end

--- The command-line identifiers one by one; "-" stands for the lines of stdin.
function util.each_input(ids)
  return coroutine.wrap(function()
    for _, id in ipairs(ids) do
      if id == "-" then
        for line in io.stdin:lines() do coroutine.yield(line) end
      else
        coroutine.yield(id)
      end
    end
  end)
end

--- The options that make an engine (imei check, imei explain): policy and its data.
function util.engine_options(cmd)
  cmd:option("--policy", "Policy file."):count(1)
  cmd:option("--tacdb", "TAC database: a compiled image or a GSMA/Osmocom text file.")
  cmd:option("--lists", "Folder of CSV lists (stolen.csv, pairing.csv, ...).")
  cmd:option("--store",
    "Sightings store: memory, lmdb:PATH or a redis://, rediss://, redis+cluster://, redis+unix:// URL.")
end

--- The fields of one request beside its PEI and IMSI, as options.
function util.request_options(cmd)
  cmd:option("--msisdn", "The subscriber's MSISDN (GPSI).")
  cmd:option("--operator", "The serving operator, MCC-MNC (e.g. 410-01).")
  cmd:option("--rat", "Radio access type (e.g. EUTRAN, NR).")
  cmd:option("--time", "Request time, UTC seconds (default: now)."):convert(tonumber)
end

--- The PEI and IMSI of one request, as arguments.
function util.request_arguments(cmd)
  cmd:argument("pei", "The equipment identity: PEI, IMEI or IMEISV in any form.")
  cmd:argument("imsi", "The subscriber's IMSI (SUPI)."):args("?")
end

--- The request table of parsed arguments.
function util.request(args)
  return { pei = args.pei, imsi = args.imsi, msisdn = args.msisdn, operator = args.operator, rat = args.rat,
           time = args.time }
end

return util

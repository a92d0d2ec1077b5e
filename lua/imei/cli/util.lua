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

return util

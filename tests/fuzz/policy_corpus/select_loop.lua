-- hang: select over 200,000 values in a loop
local function f(...) for _ = 1, 1e9 do local n = select("#", ...) end end
f(table.unpack({}, 1, 200000))

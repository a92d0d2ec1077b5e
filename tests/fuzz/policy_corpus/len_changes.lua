-- hang: a __len that answers 1 the first time and 2^60 afterwards
local n = 0
local t = setmetatable({}, { __len = function() n = n + 1 return n == 1 and 1 or 1 << 60 end })
table.insert(t, 1, "x") table.insert(t, 1, "x") return table.remove(t, 1)

-- hang: table.sort over a lying __len, elements read through a C __index
local t = setmetatable({}, { __len = function() return 1 << 30 end, __index = rawlen })
table.sort(t)

-- fail-open: print on every check (the sandbox must not keep it)
for i = 1, 10000 do print("flood", i, string.rep("y", 200)) end
return false

-- hang: bulk C work in a loop: 25 MB per turn within the instruction budget
for _ = 1, 1e9 do local s = string.rep("x", 2.5e7) end

-- Command-line smoke run of PATTSync without the game, for a plain Lua 5.1 interpreter:
--   lua5.1 tests/addon/run.lua        (from the repository root)
-- Loads the stubs and the addon, exports a two-member roster and prints the SavedVariables
-- file the game would write. The pytest suite runs the same files through lupa.

assert(_VERSION == "Lua 5.1", "PATTSync targets Lua 5.1, this is " .. _VERSION)

dofile("tests/addon/wow_stubs.lua")
local writer = dofile("tests/addon/sv_writer.lua")

ROSTER = {
    { name = "Aldrameth-Senjin", rankName = "Guild Leader", rankIndex = 0, level = 80,
      class = "Druid", classFile = "DRUID", zone = "Dornogal", note = "GM",
      officerNote = "Discord: stonehoof", isOnline = true, achievementPoints = 14210 },
    { name = "Zo\195\171lle-BleedingHollow", rankName = "Member", rankIndex = 3, level = 80,
      class = "Mage", classFile = "MAGE", zone = "", note = "alt of Bra\195\177ix",
      officerNote = "", isOnline = false, achievementPoints = 9050, lastOnline = { 0, 0, 2, 4 } },
}

local addon = assert(loadfile("wow_addon/PATTSync/PATTSync.lua"))
addon("PATTSync", {})
fire("ADDON_LOADED", "PATTSync")
slash("/pattsync")
fire("GUILD_ROSTER_UPDATE")

for _, line in ipairs(CHAT_LOG) do
    io.stderr:write((line:gsub("|c%x%x%x%x%x%x%x%x", ""):gsub("|r", "")), "\n")
end
io.write(writer.file({ PATTSyncDB = PATTSyncDB }))

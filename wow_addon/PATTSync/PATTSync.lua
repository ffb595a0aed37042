local ADDON_NAME, ns = ... -- the game passes the addon name and a private table

-- PATTSync: exports the guild roster, including guild and officer notes, into the
-- SavedVariables table PATTSyncDB. The game writes that table to disk on /reload, logout or
-- exit; the PATT companion app then uploads it to the guild website.
--
-- Lua 5.1 (the game's dialect). The only globals this file creates are PATTSyncDB,
-- SLASH_PATTSYNC1, SLASH_PATTSYNC2 and SlashCmdList.PATTSYNC; everything else is local.

ADDON_NAME = ADDON_NAME or "PATTSync"
ns = ns or {}

local ADDON_VERSION = "1.0.0"
local COOLDOWN_SECONDS = 6 * 60 * 60 -- at most four automatic exports a day
local WATCHDOG_SECONDS = 15
local EMPTY_ROSTER_RETRY_SECONDS = 2
local EMPTY_ROSTER_MAX_RETRIES = 3

local PREFIX = "|cFFD4A84B[PATTSync]|r "
local GREEN = "|cFF4ADE80"
local RED = "|cFFF87171"
local WHITE = "|cFFE8E8E8"
local RESET = "|r"

local floor = math.floor
local format = string.format
local find = string.find
local sub = string.sub

ns.ADDON_VERSION = ADDON_VERSION
ns.COOLDOWN_SECONDS = COOLDOWN_SECONDS

-- Export state for this session only (never saved).
local exportInProgress = false
local exportStartedAt = nil
local exportGeneration = 0 -- lets a timer from an earlier export recognise that it is stale
local emptyRosterRetries = 0
local emptyRosterRetryPending = false
local communitiesHooked = false
local toggleGuildFrameHooked = false

----------------------------------------------------------------------------------------------
-- Output
----------------------------------------------------------------------------------------------

local function Print(message)
    local line = PREFIX .. message
    if DEFAULT_CHAT_FRAME and DEFAULT_CHAT_FRAME.AddMessage then
        DEFAULT_CHAT_FRAME:AddMessage(line)
    elseif print then
        print(line)
    end
end

local function Green(text) return GREEN .. text .. RESET end
local function Red(text) return RED .. text .. RESET end
local function White(text) return WHITE .. text .. RESET end

----------------------------------------------------------------------------------------------
-- Pure helpers (exported on ns so tests can call them directly)
----------------------------------------------------------------------------------------------

-- "N seconds" under a minute, "N minutes" under an hour, otherwise "Hh Mm".
local function FormatTimeDiff(seconds)
    seconds = floor(tonumber(seconds) or 0)
    if seconds < 0 then
        seconds = 0
    end
    if seconds < 60 then
        return format("%d seconds", seconds)
    elseif seconds < 3600 then
        return format("%d minutes", floor(seconds / 60))
    end
    return format("%dh %dm", floor(seconds / 3600), floor((seconds % 3600) / 60))
end
ns.FormatTimeDiff = FormatTimeDiff

-- Turns GetGuildRosterLastOnline's (years, months, days, hours) into a short text.
local function FormatLastOnline(isOnline, years, months, days, hours)
    if isOnline then
        return "Online"
    end
    if years == nil and months == nil and days == nil and hours == nil then
        return ""
    end
    years, months, days, hours = years or 0, months or 0, days or 0, hours or 0
    if years > 0 then
        return format("%dy %dm %dd", years, months, days)
    elseif months > 0 then
        return format("%dm %dd", months, days)
    elseif days > 0 then
        return format("%dd %dh", days, hours)
    end
    return format("%dh", hours)
end
ns.FormatLastOnline = FormatLastOnline

-- Splits "Name-Realm" on the first "-": character names never contain "-", realm names may
-- (e.g. "Azjol-Nerub"), so the realm keeps everything after the first one.
-- Returns name, realm (realm is nil when the roster name carries none).
local function SplitNameRealm(fullName)
    if type(fullName) ~= "string" then
        return nil, nil
    end
    local dash = find(fullName, "-", 1, true)
    if not dash then
        return fullName, nil
    end
    local realm = sub(fullName, dash + 1)
    if realm == "" then
        realm = nil
    end
    return sub(fullName, 1, dash - 1), realm
end
ns.SplitNameRealm = SplitNameRealm

-- The player's realm as the roster writes it ("BleedingHollow", no spaces); older clients
-- only have GetRealmName.
local function HomeRealm()
    local realm
    if GetNormalizedRealmName then
        realm = GetNormalizedRealmName()
    end
    if (realm == nil or realm == "") and GetRealmName then
        realm = GetRealmName()
    end
    return realm or ""
end

-- Builds one export record from a roster entry. `info` holds GetGuildRosterInfo's values
-- by name (fullName, rankName, rankIndex, level, className, zone, note, officerNote,
-- isOnline, classFile, achievementPoints) plus `lastOnline` (already formatted).
-- Returns nil when the entry has no name (the game sometimes returns empty slots).
local function BuildRecord(info, canViewOfficerNote, homeRealm)
    if type(info) ~= "table" or info.fullName == nil then
        return nil
    end
    local name, realm = SplitNameRealm(info.fullName)
    local officerNote = ""
    if canViewOfficerNote then
        officerNote = info.officerNote or ""
    end
    return {
        name = name,
        realm = realm or homeRealm or "",
        class = info.className or "Unknown",
        classFile = info.classFile or "UNKNOWN",
        level = info.level or 0,
        rank = info.rankIndex or 99,
        rankName = info.rankName or "Unknown",
        zone = info.zone or "",
        note = info.note or "",
        officerNote = officerNote,
        isOnline = info.isOnline and true or false,
        lastOnline = info.lastOnline or "",
        achievementPoints = info.achievementPoints or 0,
    }
end
ns.BuildRecord = BuildRecord

-- Returns active, secondsRemaining. A lastExportTime in the future (the PC clock was moved
-- back) does not block exports: the next export stores a sane time again.
local function IsCooldownActive(now, lastExportTime)
    if type(lastExportTime) ~= "number" or lastExportTime <= 0 then
        return false, 0
    end
    local elapsed = now - lastExportTime
    if elapsed < 0 or elapsed >= COOLDOWN_SECONDS then
        return false, 0
    end
    return true, COOLDOWN_SECONDS - elapsed
end
ns.IsCooldownActive = IsCooldownActive

----------------------------------------------------------------------------------------------
-- Game API access, tolerant of functions missing in older or future clients
----------------------------------------------------------------------------------------------

local function Now()
    return time()
end

local function After(seconds, callback)
    if C_Timer and C_Timer.After then
        C_Timer.After(seconds, callback)
        return true
    end
    return false
end

local function RequestRosterFromServer()
    if C_GuildInfo and C_GuildInfo.GuildRoster then
        C_GuildInfo.GuildRoster()
    elseif GuildRoster then
        GuildRoster()
    end
end

local function CanViewOfficerNotes()
    if C_GuildInfo and C_GuildInfo.CanViewOfficerNote then
        return C_GuildInfo.CanViewOfficerNote() and true or false
    elseif CanViewOfficerNote then
        return CanViewOfficerNote() and true or false
    end
    return false
end

local function MemberCount()
    if not GetNumGuildMembers then
        return 0
    end
    return GetNumGuildMembers() or 0
end

local function ReadRosterEntry(index)
    local fullName, rankName, rankIndex, level, className, zone, note, officerNote, isOnline,
        _, classFile, achievementPoints = GetGuildRosterInfo(index)
    local years, months, days, hours
    if GetGuildRosterLastOnline then
        years, months, days, hours = GetGuildRosterLastOnline(index)
    end
    return {
        fullName = fullName,
        rankName = rankName,
        rankIndex = rankIndex,
        level = level,
        className = className,
        zone = zone,
        note = note,
        officerNote = officerNote,
        isOnline = isOnline,
        classFile = classFile,
        achievementPoints = achievementPoints,
        lastOnline = FormatLastOnline(isOnline, years, months, days, hours),
    }
end

----------------------------------------------------------------------------------------------
-- Export
----------------------------------------------------------------------------------------------

-- Keeps whatever a previous session saved; only fills in what is missing.
local function InitialiseDatabase()
    if type(PATTSyncDB) ~= "table" then
        PATTSyncDB = {}
    end
    if type(PATTSyncDB.totalExports) ~= "number" then
        PATTSyncDB.totalExports = 0
    end
end

local function FinishExport()
    exportInProgress = false
    exportStartedAt = nil
    emptyRosterRetries = 0
    emptyRosterRetryPending = false
end

local function FailExport(reason)
    FinishExport()
    Print(Red("Export failed: " .. reason))
end

-- Reads the whole roster into PATTSyncDB.lastExport (replacing the previous export, so the
-- file never grows) and returns the number of characters written.
local function ProcessRoster()
    local canViewOfficerNote = CanViewOfficerNotes()
    local homeRealm = HomeRealm()
    local characters = {}
    for index = 1, MemberCount() do
        local record = BuildRecord(ReadRosterEntry(index), canViewOfficerNote, homeRealm)
        if record then
            characters[#characters + 1] = record
        end
    end

    local exportTime = Now()
    local guildName = GetGuildInfo and GetGuildInfo("player") or nil
    PATTSyncDB.lastExport = {
        exportTime = exportTime,
        exportTimeISO = date("!%Y-%m-%dT%H:%M:%SZ", exportTime),
        addonVersion = ADDON_VERSION,
        guildName = guildName or "Unknown",
        memberCount = #characters,
        canViewOfficerNote = canViewOfficerNote,
        characters = characters,
    }
    PATTSyncDB.lastExportTime = exportTime
    PATTSyncDB.totalExports = (PATTSyncDB.totalExports or 0) + 1
    FinishExport()

    Print(Green(#characters .. " characters exported."))
    Print(White("The game writes the file on /reload, logout or exit; the companion app then "
        .. "uploads it."))
    return #characters
end
ns.ProcessRoster = ProcessRoster

-- Called on GUILD_ROSTER_UPDATE while an export runs. An empty roster usually means the
-- server has not answered yet, so it asks again a few times before giving up.
local function OnRosterUpdate()
    if not exportInProgress or emptyRosterRetryPending then
        return
    end
    if MemberCount() > 0 then
        ProcessRoster()
        return
    end
    if emptyRosterRetries >= EMPTY_ROSTER_MAX_RETRIES then
        FailExport("the guild roster stayed empty. Try again in a minute.")
        return
    end
    emptyRosterRetries = emptyRosterRetries + 1
    local generation = exportGeneration
    emptyRosterRetryPending = true
    local scheduled = After(EMPTY_ROSTER_RETRY_SECONDS, function()
        if generation ~= exportGeneration or not exportInProgress then
            return
        end
        emptyRosterRetryPending = false
        RequestRosterFromServer()
    end)
    if not scheduled then
        FailExport("the guild roster is empty.")
    end
end

-- The server throttles roster requests and may never answer; without this the in-progress
-- flag would block every later export for the rest of the session.
local function OnWatchdog(generation)
    if generation ~= exportGeneration or not exportInProgress then
        return
    end
    if MemberCount() > 0 then
        ProcessRoster()
    else
        FailExport("the server did not send the guild roster. Try again in a minute.")
    end
end

-- Starts an export. `force` ignores the cooldown; `automatic` (guild window opened) stays
-- silent when nothing needs doing, so opening the window does not spam the chat.
-- Returns true when an export was started.
local function RequestExport(force, automatic)
    InitialiseDatabase()
    if not (IsInGuild and IsInGuild()) then
        if not automatic then
            Print(Red("You are not in a guild - nothing to export."))
        end
        return false
    end

    local now = Now()
    local active, remaining = IsCooldownActive(now, PATTSyncDB.lastExportTime)
    if active and not force then
        if not automatic then
            Print(White("Last export was recent. Next export possible in "
                .. FormatTimeDiff(remaining) .. " (or use /pattsync force)."))
        end
        return false
    end

    if exportInProgress and exportStartedAt and now - exportStartedAt > WATCHDOG_SECONDS then
        -- Without timers (C_Timer missing) the watchdog cannot run; treat the export as stuck.
        FinishExport()
    end
    if exportInProgress then
        if not automatic then
            Print(White("An export is already in progress."))
        end
        return false
    end

    exportInProgress = true
    exportStartedAt = now
    emptyRosterRetries = 0
    emptyRosterRetryPending = false
    exportGeneration = exportGeneration + 1
    local generation = exportGeneration

    Print(White("Reading the guild roster..."))
    After(WATCHDOG_SECONDS, function() OnWatchdog(generation) end)
    RequestRosterFromServer()
    return true
end
ns.RequestExport = RequestExport

----------------------------------------------------------------------------------------------
-- Slash commands
----------------------------------------------------------------------------------------------

local HELP_LINES = {
    "/pattsync - export the guild roster (at most once every 6 hours)",
    "/pattsync force - export now, ignoring the 6-hour cooldown",
    "/pattsync status - time since the last export, members exported, cooldown",
    "/pattsync help - this list",
    "/patt works the same as /pattsync.",
}

local function PrintHelp()
    Print(White("Commands:"))
    for _, line in ipairs(HELP_LINES) do
        Print(White("  " .. line))
    end
end

local function PrintStatus()
    InitialiseDatabase()
    local now = Now()
    local lastTime = PATTSyncDB.lastExportTime
    if type(lastTime) == "number" and lastTime > 0 then
        local export = PATTSyncDB.lastExport
        local members = type(export) == "table" and export.memberCount or 0
        Print(White("Last export: " .. FormatTimeDiff(now - lastTime) .. " ago, "
            .. members .. " members exported."))
    else
        Print(White("Last export: never."))
    end
    local active, remaining = IsCooldownActive(now, lastTime)
    if active then
        Print(White("Cooldown: " .. FormatTimeDiff(remaining) .. " remaining."))
    else
        Print(Green("Cooldown: ready."))
    end
    Print(White("Exports (all time): " .. (PATTSyncDB.totalExports or 0) .. "."))
end

local function Trim(text)
    return (string.gsub(text, "^%s*(.-)%s*$", "%1"))
end

local function OnSlashCommand(message)
    local command = string.lower(Trim(message or ""))
    if command == "" then
        RequestExport(false, false)
    elseif command == "force" then
        RequestExport(true, false)
    elseif command == "status" then
        PrintStatus()
    elseif command == "help" then
        PrintHelp()
    else
        Print(Red("Unknown command: " .. command))
        PrintHelp()
    end
end

----------------------------------------------------------------------------------------------
-- Guild window hooks
----------------------------------------------------------------------------------------------

local function OnGuildWindowShown()
    RequestExport(false, true)
end

-- CommunitiesFrame belongs to Blizzard_Communities, which the game loads only when the guild
-- window is first opened; this runs at our own load and again when that addon loads.
local function HookCommunitiesFrame()
    if communitiesHooked then
        return
    end
    local frame = CommunitiesFrame
    if type(frame) == "table" and frame.HookScript then
        frame:HookScript("OnShow", OnGuildWindowShown)
        communitiesHooked = true
    end
end

local function InstallGuildWindowHooks()
    HookCommunitiesFrame()
    if not toggleGuildFrameHooked and hooksecurefunc and ToggleGuildFrame then
        hooksecurefunc("ToggleGuildFrame", OnGuildWindowShown)
        toggleGuildFrameHooked = true
    end
end

----------------------------------------------------------------------------------------------
-- Events and start-up
----------------------------------------------------------------------------------------------

local eventFrame = CreateFrame("Frame")
eventFrame:RegisterEvent("ADDON_LOADED")
eventFrame:RegisterEvent("GUILD_ROSTER_UPDATE")
eventFrame:SetScript("OnEvent", function(_, event, arg1)
    if event == "ADDON_LOADED" then
        if arg1 == ADDON_NAME then
            InitialiseDatabase()
            InstallGuildWindowHooks()
            Print(White("v" .. ADDON_VERSION .. " loaded, type /pattsync for commands."))
        elseif arg1 == "Blizzard_Communities" then
            HookCommunitiesFrame()
        end
    elseif event == "GUILD_ROSTER_UPDATE" then
        OnRosterUpdate()
    end
end)

SLASH_PATTSYNC1 = "/pattsync"
SLASH_PATTSYNC2 = "/patt"
SlashCmdList["PATTSYNC"] = OnSlashCommand

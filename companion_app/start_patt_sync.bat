@echo off
rem Starts the PATTSync companion with a console window (handy for watching the log).
rem Put a shortcut to this file in the Startup folder (Win+R, shell:startup) to run it at logon.
cd /d "%~dp0"
".venv\Scripts\python.exe" patt_sync_watcher.py %*
if errorlevel 1 pause

# sheetsync as a Task Scheduler task: starts the worker, with its dashboard on
# http://127.0.0.1:8080, each time you log on to Windows. The steps are in docs/deploy.md.
# Run it in PowerShell opened as administrator while signed in as the shop's Windows user:
#   powershell -ExecutionPolicy Bypass -File sheetsync-task.ps1
# The config is %USERPROFILE%\sheetsync\sheetsync.toml (`sheetsync init --dir %USERPROFILE%\sheetsync`).
$Folder = Join-Path $env:USERPROFILE "sheetsync"
$Sheetsync = Join-Path $env:USERPROFILE ".local\bin\sheetsync.exe"
$Action = New-ScheduledTaskAction -Execute $Sheetsync -Argument "serve --config `"$Folder\sheetsync.toml`"" -WorkingDirectory $Folder
$Trigger = New-ScheduledTaskTrigger -AtLogOn -User "$env:USERDOMAIN\$env:USERNAME"
# No time limit (the default stops a task after 3 days), and keep running on a laptop's battery.
$Settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName "sheetsync" -Action $Action -Trigger $Trigger -Settings $Settings -Description "sheetsync: stock from your sheet to your sales channels" -Force

using System.CommandLine;
using PolicyKit.Cli;
using PolicyKit.Cli.Commands;

// Every failure the user can cause ends in one line on stderr and a non-zero exit code, never a stack trace.
var root = new RootCommand(
    "PolicyKit: masked-diffusion language models with declarative per-layer cache policies.\n" +
    "With no command, runs the main job: answers a sample prompt on the default model.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(NewModelCommand.Create());
root.Subcommands.Add(PoliciesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.SetAction((parse, ct) => CliErrors.Guard(() => MainJob.RunAsync(ct)));

return await root.Parse(args).InvokeAsync();

using System.CommandLine;
using System.Runtime.InteropServices;
using PolicyKit.Cli;
using PolicyKit.Cli.Commands;
using PolicyKit.Diffusion.Runtime;

// Every failure the user can cause ends in one line on stderr and a non-zero exit code, never a stack trace.
var root = new RootCommand(
    "PolicyKit: masked-diffusion language models with declarative per-layer cache policies.\n" +
    "With no command, runs the main job: answers a sample prompt on the default model.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(NewModelCommand.Create());
root.Subcommands.Add(PoliciesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
root.Subcommands.Add(TraceCommand.Create());
root.Subcommands.Add(TuneCommand.Create());
root.SetAction((parse, _) => CliErrors.Guard(ct => MainJob.RunAsync(ct)));

// Every generation frees hundreds of MB of caches; keeping them in the process spares the next one a page fault
// per fresh page (see NativeHeap).
NativeHeap.RetainFreedMemory();

// Ctrl+C and SIGTERM cancel the running work, which stops between denoising steps, frees its caches and exits
// with 130. System.CommandLine's own handling would return at once and leave the work running, so it is off.
using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; interrupt.Cancel(); };
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; interrupt.Cancel(); });
CliErrors.Interrupt = interrupt.Token;

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

using PolicyKit.Diffusion;

namespace PolicyKit.Cli;

/// <summary>Turns the exceptions a user can cause into one line on stderr and an exit code.</summary>
internal static class CliErrors
{
    public const int UserError = 2;
    public const int Cancelled = 130;

    /// <summary>Cancelled by Ctrl+C or SIGTERM (wired in Program).</summary>
    public static CancellationToken Interrupt { get; set; }

    /// <summary>
    /// Runs a command's work with the interrupt token (the samplers check it between steps; the signal handlers run
    /// on the runtime's own thread), and turns what a user can cause into one line and an exit code.
    /// </summary>
    /// <remarks>
    /// The work stays on the calling (main) thread on purpose: glibc serves the main thread from its main heap,
    /// which <see cref="Diffusion.Runtime.NativeHeap"/> keeps warm, while a pool thread's arena unmaps every heap
    /// that empties, so each generation's caches come back as page faults (dllm-cache on retrieval at batch 64:
    /// 9.5 s a batch on a pool thread, 7.2-7.9 s on the main thread).
    /// </remarks>
    public static async Task<int> Guard(Func<CancellationToken, Task<int>> action)
    {
        try
        {
            return await action(Interrupt);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("policykit: cancelled.");
            return Cancelled;
        }
        catch (Exception e) when (e is PolicyKitException or ArgumentException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"policykit: {OneLine(e.Message)}");
            return UserError;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

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
    /// Runs a command's work off the signal-handling thread with the interrupt token (the samplers check it
    /// between steps), and turns what a user can cause into one line and an exit code.
    /// </summary>
    public static async Task<int> Guard(Func<CancellationToken, Task<int>> action)
    {
        try
        {
            return await Task.Run(() => action(Interrupt));
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

using System.Diagnostics;

namespace PolicyKit.Cli;

/// <summary>
/// A one-line progress bar on stderr (redrawn in place on a terminal; a line every few seconds when
/// redirected, so logs stay readable).
/// </summary>
internal sealed class ProgressLine(int total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _terminal = !Console.IsErrorRedirected;
    private TimeSpan? _lastLine;
    private int _first = -1;

    public void Report(int done, string detail)
    {
        if (_first < 0) _first = done - 1;
        if (!_terminal && _lastLine is { } last && _clock.Elapsed - last < TimeSpan.FromSeconds(10) && done != total) return;
        _lastLine = _clock.Elapsed;
        const int width = 30;
        int filled = (int)((long)width * done / Math.Max(1, total));
        double perStep = _clock.Elapsed.TotalSeconds / Math.Max(1, done - _first);
        var eta = TimeSpan.FromSeconds(perStep * (total - done));
        var etaText = done == 0 ? "--:--:--" : eta.ToString("hh\\:mm\\:ss");  // nothing done yet (a warm-up): no rate to go by
        var line = $"[{new string('#', filled)}{new string('.', width - filled)}] {done}/{total}  {detail}  ETA {etaText}";
        if (_terminal) Console.Error.Write("\r" + line);
        else Console.Error.WriteLine(line);
    }

    public void Done()
    {
        if (_terminal) Console.Error.WriteLine();
    }
}

using System.Text.Json;

namespace PolicyKit.Tasks;

/// <summary>How a response is scored against a sample's answer.</summary>
public enum AnswerMatch
{
    /// <summary>The response, trimmed, equals the answer (<see cref="TaskSample.IsCorrect"/>).</summary>
    Exact,

    /// <summary>The response contains the answer somewhere (for models that say more than the answer).</summary>
    Contains,
}

/// <summary>
/// A user's own prompts from a JSON Lines file, one <c>{"prompt": "...", "answer": "..."}</c> object a line (blank
/// lines are skipped, other fields ignored), so policies can be compared on the user's data and model. The samples
/// are the file's lines in order; <see cref="Sample"/> draws one of them.
/// </summary>
public sealed class JsonlTask : IBenchmarkTask
{
    /// <summary>At most this many bad lines are listed in one error.</summary>
    public const int MaxReportedErrors = 10;

    private JsonlTask(string name, string path, IReadOnlyList<TaskSample> samples, IReadOnlyList<int> lines, int genLength, int blockLength, AnswerMatch match)
    {
        Name = name;
        Path = path;
        Samples = samples;
        LineNumbers = lines;
        GenLength = genLength;
        BlockLength = blockLength;
        Match = match;
    }

    /// <summary>The file's name without its extension.</summary>
    public string Name { get; }

    public string Path { get; }

    public string Description => $"{Samples.Count} prompts from {System.IO.Path.GetFileName(Path)} ({Match.ToString().ToLowerInvariant()} match)";

    public int GenLength { get; }

    public int BlockLength { get; }

    public AnswerMatch Match { get; }

    /// <summary>Every sample, in file order.</summary>
    public IReadOnlyList<TaskSample> Samples { get; }

    /// <summary>The 1-based line of each sample in the file, for messages about it.</summary>
    public IReadOnlyList<int> LineNumbers { get; }

    public TaskSample Sample(Random random) => Samples[random.Next(Samples.Count)];

    /// <summary>Scores <paramref name="response"/> against <paramref name="answer"/> under <see cref="Match"/>.</summary>
    public bool IsCorrect(string response, string answer) => Match switch
    {
        AnswerMatch.Contains => response.Contains(answer, StringComparison.Ordinal),
        _ => string.Equals(response.Trim(), answer, StringComparison.Ordinal),
    };

    /// <summary>Reads and checks the file.</summary>
    /// <exception cref="InvalidDataException">Bad lines (each named by its line number), or no samples at all.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static JsonlTask Load(string path, int genLength, int blockLength, AnswerMatch match = AnswerMatch.Exact)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var name = System.IO.Path.GetFileNameWithoutExtension(path);
        var samples = new List<TaskSample>();
        var lines = new List<int>();
        var errors = new List<string>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (Read(line, out var prompt, out var answer) is { } problem)
            {
                errors.Add($"line {number}: {problem}");
                continue;
            }
            samples.Add(new TaskSample(name, prompt, answer));
            lines.Add(number);
        }
        if (errors.Count > 0)
        {
            var listed = string.Join("; ", errors.Take(MaxReportedErrors));
            var more = errors.Count > MaxReportedErrors ? $"; and {errors.Count - MaxReportedErrors} more bad lines" : "";
            throw new InvalidDataException($"{path}: {listed}{more}. Each line must be {{\"prompt\": \"...\", \"answer\": \"...\"}}.");
        }
        if (samples.Count == 0)
            throw new InvalidDataException($"{path}: no samples (each line must be {{\"prompt\": \"...\", \"answer\": \"...\"}}).");
        return new JsonlTask(name, path, samples, lines, genLength, blockLength, match);
    }

    /// <summary>Reads one line's prompt and answer; returns what is wrong with the line, or null.</summary>
    private static string? Read(string line, out string prompt, out string answer)
    {
        prompt = answer = "";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return $"not valid JSON ({e.Message.Split(" Path:")[0].TrimEnd('.')})";
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return $"expected a JSON object, found {root.ValueKind.ToString().ToLowerInvariant()}";
            var values = new string[2];
            string[] fields = ["prompt", "answer"];
            for (int i = 0; i < fields.Length; i++)
            {
                if (!root.TryGetProperty(fields[i], out var value)) return $"\"{fields[i]}\" is missing";
                if (value.ValueKind != JsonValueKind.String) return $"\"{fields[i]}\" must be a string, found {value.ValueKind.ToString().ToLowerInvariant()}";
                values[i] = value.GetString()!;
                if (values[i].Length == 0) return $"\"{fields[i]}\" is empty";
            }
            (prompt, answer) = (values[0], values[1]);
        }
        return null;
    }
}

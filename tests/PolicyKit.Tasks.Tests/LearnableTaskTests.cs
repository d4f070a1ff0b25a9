using System.Text.RegularExpressions;

namespace PolicyKit.Tasks.Tests;

/// <summary>The suite a small model learns (needle, sort, running-sum) and the names of the hard tasks.</summary>
public class LearnableTaskTests
{
    public static TheoryData<string> Tasks => new(TaskSuite.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Samples_use_single_token_characters_and_leave_room_for_an_end_token(string name)
    {
        var task = TaskSuite.Get(name);
        var samples = TaskSuite.TestSet(task, 50).Concat(Enumerable.Range(0, 20).SelectMany(step => TaskSuite.TrainBatch(task, 0, step, 3)));
        foreach (var s in samples)
        {
            // Upper-case letters, digits, '=' and '|' never merge in the byte-level BPE (its merges are lower-case only).
            Assert.Matches("^[A-Z0-9]+=$", s.Question);
            Assert.Matches(@"^([A-Z0-9]+=[A-Z0-9]+\|)*[A-Z0-9]+=$", s.Prompt);  // a few-shot preamble of solved examples, if any
            Assert.Matches("^[A-Z0-9]+$", s.Answer);
            // At least one end-of-sequence token after every answer, so a model trained on the suite learns to stop.
            Assert.True(s.Answer.Length < task.GenLength, $"{s.Answer.Length}-token answer, gen length {task.GenLength}");
            Assert.Equal(0, task.GenLength % task.BlockLength);
        }
    }

    [Fact]
    public void Each_task_is_in_its_regime()
    {
        // Long prompt, short answer.
        Assert.All(TaskSuite.TestSet(TaskSuite.Get("needle"), 50), s => { Assert.True(s.Prompt.Length >= 256); Assert.True(s.Answer.Length <= 8); });
        // Between the two: a prompt of about 128 tokens, an answer of 16.
        Assert.All(TaskSuite.TestSet(TaskSuite.Get("sort"), 50), s => { Assert.InRange(s.Prompt.Length, 100, 160); Assert.Equal(15, s.Answer.Length); });
        // Long answer.
        Assert.All(TaskSuite.TestSet(TaskSuite.Get("running-sum"), 50), s => Assert.True(s.Answer.Length >= 32));
    }

    [Fact]
    public void Needle_answers_are_the_only_digits_of_the_prompt_and_sit_anywhere_in_it()
    {
        var starts = new List<int>();
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("needle"), 200))
        {
            var digits = Regex.Matches(s.Prompt, "[0-9]+").ToArray();
            Assert.Single(digits);
            Assert.Equal(digits[0].Value, s.Answer);
            Assert.Equal(NeedleTask.NeedleLength, s.Answer.Length);
            starts.Add(digits[0].Index);
        }
        // Deep in the prompt as often as near its ends: both halves are used, and some needles are far from the question.
        Assert.Contains(starts, i => i < 70);
        Assert.Contains(starts, i => i > 210);
        Assert.InRange(starts.Average(), 100, 185);
    }

    [Fact]
    public void Sort_answers_are_the_prompt_letters_in_order()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("sort"), 50))
        {
            var letters = s.Prompt.Where(char.IsAsciiLetterUpper).ToArray();
            Assert.Equal(15, letters.Length);
            Assert.Equal(15, letters.Distinct().Count());
            Assert.Equal(112, s.Prompt.Count(char.IsAsciiDigit));
            Assert.Equal(new string(letters.OrderBy(c => c).ToArray()), s.Answer);
        }
    }

    [Fact]
    public void Running_sum_answers_are_the_prefix_sums_mod_ten()
    {
        var samples = TaskSuite.TestSet(TaskSuite.Get("running-sum"), 50);
        foreach (var s in samples)
        {
            Assert.Matches("^[0-9]{32}=$", s.Question);
            Assert.Equal(RunningSums(s.Question.TrimEnd('=')), s.Answer);
        }
        // Two worked examples in front, the same for every question, each answered by the same rule.
        var preamble = samples[0].Prompt[..samples[0].QuestionStart];
        Assert.All(samples, s => Assert.StartsWith(preamble, s.Prompt));
        Assert.Equal(165, samples[0].Prompt.Length);
        var shots = preamble.Split('|', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, shots.Length);
        foreach (var shot in shots)
        {
            var (digits, answer) = (shot.Split('=')[0], shot.Split('=')[1]);
            Assert.Equal(RunningSums(digits), answer);
        }

        static string RunningSums(string digits)
        {
            int sum = 0;
            return string.Concat(digits.Select(c => (sum = (sum + c - '0') % 10).ToString()));
        }
    }

    [Fact]
    public void Running_sum_training_mixes_zero_one_and_two_shots()
    {
        var task = TaskSuite.Get("running-sum");
        var lengths = Enumerable.Range(0, 40).Select(step => TaskSuite.TrainBatch(task, 0, step, 4)).Select(b => b[0].Prompt.Length).ToHashSet();
        Assert.Equal([33, 99, 165], lengths.Order());
    }

    [Theory]
    [InlineData("needle")]
    [InlineData("sort")]
    public void Training_mixes_shorter_prompts_one_length_a_batch(string name)
    {
        var task = TaskSuite.Get(name);
        var lengths = new HashSet<int>();
        for (int step = 0; step < 40; step++)
        {
            var batch = TaskSuite.TrainBatch(task, 0, step, 6);
            Assert.Single(batch.Select(s => (s.Prompt.Length, s.Answer.Length)).Distinct());
            lengths.Add(batch[0].Prompt.Length);
        }
        Assert.True(lengths.Count > 5, "training draws shorter variants");
        Assert.True(lengths.Max() <= TaskSuite.TestSet(task, 1)[0].Prompt.Length);
    }

    [Fact]
    public void The_hard_tasks_keep_their_names_and_answer_to_hard_aliases()
    {
        Assert.Same(TaskSuite.Get("retrieval"), TaskSuite.Get("hard-retrieval"));
        Assert.Same(TaskSuite.Get("arithmetic"), TaskSuite.Get("hard-arithmetic"));
        Assert.Equal(["needle", "sort", "running-sum"], TaskSuite.All.Select(t => t.Name));  // the default suite
        Assert.Equal(["retrieval", "arithmetic", "transform"], TaskSuite.Original.Select(t => t.Name));
        var e = Assert.Throws<ArgumentException>(() => TaskSuite.Get("haystack"));
        Assert.Contains("hard-retrieval", e.Message);
        Assert.Contains("needle", e.Message);
    }

    [Fact]
    public void Bad_task_sizes_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NeedleTask(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SortTask(27));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SortTask(16, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RunningSumTask(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RunningSumTask(32, -1));
    }
}

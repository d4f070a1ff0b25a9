using System.CommandLine;

namespace PolicyKit.Cli.Commands;

/// <summary><c>policykit policies</c>: every registered policy with its parameters.</summary>
internal static class PoliciesCommand
{
    public static Command Create()
    {
        var command = new Command("policies", "List the registered cache policies and their parameters.");
        command.SetAction(_ =>
        {
            foreach (var policy in Policies.Catalog)
            {
                Console.WriteLine($"{policy.Name,-18} {policy.Description}");
                foreach (var p in policy.Parameters)
                    Console.WriteLine($"{"",-18}   {p.Name} = {p.Value}  ({p.Description})");
            }
            return 0;
        });
        return command;
    }
}

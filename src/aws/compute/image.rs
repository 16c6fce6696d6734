//! The node image: the newest image matching the lesson's name patterns,
//! or a pinned AMI.

use aws_sdk_ec2::types::Filter;
use serde_json::json;

use crate::aws::aws_error;
use crate::aws::tags::filter;
use crate::aws::types::*;
use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// Finds the newest image owned by `owner` whose name matches the first
/// pattern (in order) that matches anything; x86_64, EBS root. One call.
pub async fn find_image(host: &Host, owner: &str, patterns: &[String]) -> Result<Image> {
    if !host.can_read() {
        let id = host
            .plan
            .as_ref()
            .map(|p| {
                p.record(
                    "DescribeImages",
                    "ami",
                    json!({"Owners": [owner], "Names": patterns}),
                )
            })
            .unwrap_or_default();
        return Ok(Image {
            id,
            name: patterns.first().cloned().unwrap_or_default(),
            creation_date: String::new(),
            owner: owner.into(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_images()
        .owners(owner)
        .filters(
            Filter::builder()
                .name("name")
                .set_values(Some(patterns.to_vec()))
                .build(),
        )
        .filters(filter("architecture", "x86_64"))
        .filters(filter("root-device-type", "ebs"))
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    for p in patterns {
        let mut matching: Vec<_> = out
            .images()
            .iter()
            .filter(|i| glob_match(p, i.name().unwrap_or_default()))
            .collect();
        matching.sort_by_key(|i| i.creation_date().unwrap_or_default().to_string());
        if let Some(i) = matching.last() {
            return Ok(Image {
                id: i.image_id().unwrap_or_default().into(),
                name: i.name().unwrap_or_default().into(),
                creation_date: i.creation_date().unwrap_or_default().into(),
                owner: i.owner_id().unwrap_or(owner).into(),
            });
        }
    }
    Err(Error::new(
        Kind::Aws,
        format!(
            "no image owned by {owner} (x86_64, EBS) in {} matches any of: {}",
            host.region,
            patterns.join(", ")
        ),
    )
    .with_help("set `image_id` to pin an AMI, or change `image_names` (see `groundup settings`)"))
}

/// Looks up a pinned image by ID (fails clearly if it does not exist).
pub async fn get_image(host: &Host, id: &str) -> Result<Image> {
    if !host.can_read() {
        return Ok(Image {
            id: id.into(),
            name: "(pinned)".into(),
            creation_date: String::new(),
            owner: String::new(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    let Some(i) = out.images().first() else {
        return Err(Error::aws(
            "DescribeImages",
            "InvalidAMIID.NotFound",
            &format!("image {id} does not exist in {}", host.region),
        )
        .with_help("fix `image_id`, or set it empty to look an image up"));
    };
    Ok(Image {
        id: id.into(),
        name: i.name().unwrap_or_default().into(),
        creation_date: i.creation_date().unwrap_or_default().into(),
        owner: i.owner_id().unwrap_or_default().into(),
    })
}

/// Whether an image name matches a name pattern the way EC2's `name`
/// filter does: `*` matches any run of characters (also none), `?` any one
/// character, everything else itself (the `wildmatch` crate).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(
            "ubuntu/images/hvm-ssd*/ubuntu-xenial-16.04-amd64-server-*",
            "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721"
        ));
        assert!(!glob_match(
            "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
            "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721"
        ));
        assert!(glob_match("abc", "abc"));
        assert!(!glob_match("abc", "abd"));
        // EC2's other wildcard: `?` is one character, never none or two.
        assert!(glob_match("ubuntu-?.04-*", "ubuntu-8.04-amd64"));
        assert!(!glob_match("ubuntu-?.04-*", "ubuntu-18.04-amd64"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "abbbc"));
        assert!(!glob_match("a*b*c", "abbbcd"));
        // No character classes: `[` is itself.
        assert!(glob_match("img-[1]", "img-[1]"));
        assert!(!glob_match("img-[1]", "img-1"));
    }
}
